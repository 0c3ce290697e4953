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
    """503 when a partition with lag has not committed for HEALTH_STALL_S."""

    async def get(self, request: Request) -> Response:
        stalls = [] if health.healthy() else health.watch.stalled(time.monotonic())
        body = {
            "status": "stalled" if stalls else "ok",
            "stalled": [asdict(stall) for stall in stalls],
            "stall_after_s": health.watch.stall_after_s,
        }
        return self.json(body, status=503 if stalls else 200)


@app.page("/ready")
class Ready(View):
    """503 while tables recover or partitions rebalance."""

    async def get(self, request: Request) -> Response:
        ready = health.ready()
        return self.json(
            {"ready": ready, "rebalancing": bool(app.rebalancing)}, status=200 if ready else 503
        )
