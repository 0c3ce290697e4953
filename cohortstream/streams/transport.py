"""Faust's aiokafka transport with a configurable fetch wait.

Faust builds its consumer with ``fetch_max_wait_ms=1500``. Kafka answers a
fetch as soon as data arrives, so that is only an idle bound there; tansu
(the local broker) holds every fetch for the full wait, which puts up to
1.5 s on each internal hop (measured: 450 ms median to see a new record at
1500 ms, 5 ms at 100 ms). Registered as the ``cohortstream://`` transport.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

# Set by the app before the worker starts (settings.consumer_fetch_max_wait_ms).
fetch_max_wait_ms = 100


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka keeps the constructor argument here until start() builds its Fetcher.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
