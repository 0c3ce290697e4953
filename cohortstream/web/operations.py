"""For operators and orchestrators: /metrics (Prometheus), /health (liveness),
/ready (readiness). Each answers for the worker asked, not the cluster."""

from __future__ import annotations

import time
from dataclasses import asdict

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cohortstream.agents import health
from cohortstream.observability.metrics import REGISTRY
from cohortstream.streams.app import app


@app.page("/metrics")
class Metrics(View):
    async def get(self, request: Request) -> Response:
        # aiohttp refuses a charset in content_type=; the header carries it whole.
        return self.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


@app.page("/health")
class Health(View):
    """503 when a partition with lag has not committed for HEALTH_STALL_S, or the
    consumer has been joining its group for HEALTH_REBALANCE_STALL_S."""

    async def get(self, request: Request) -> Response:
        healthy = health.healthy()
        stalls = [] if healthy else health.watch.stalled(time.monotonic())
        joining_for = None if healthy else health.stuck_joining()
        body = {
            "status": "ok" if healthy else "stalled",
            "stalled": [asdict(stall) for stall in stalls],
            "stall_after_s": health.watch.stall_after_s,
            "joining_group_for_s": joining_for,
            "rebalance_stall_after_s": health.rebalance_watch.stall_after_s,
        }
        return self.json(body, status=200 if healthy else 503)


@app.page("/ready")
class Ready(View):
    """503 while tables recover or partitions rebalance."""

    async def get(self, request: Request) -> Response:
        ready = health.ready()
        return self.json(
            {"ready": ready, "rebalancing": bool(app.rebalancing)}, status=200 if ready else 503
        )
