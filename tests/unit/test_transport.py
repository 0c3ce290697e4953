from faust.transport.drivers import by_url

from cohortstream.streams import transport
from cohortstream.streams.app import app


def test_the_app_uses_the_cohortstream_transport():
    assert by_url("cohortstream://127.0.0.1:9092") is transport.Transport
    assert str(app.conf.broker[0]).startswith("cohortstream://")


async def test_the_worker_consumer_gets_the_configured_fetch_wait(monkeypatch):
    # Faust hard-codes 1500 ms; the transport must override it on the real consumer,
    # through an aiokafka attribute that an upgrade could rename: this pins it.
    monkeypatch.setattr(transport, "fetch_max_wait_ms", 42)
    app.finalize()
    thread = app.consumer._new_consumer_thread()
    assert isinstance(thread, transport.ConsumerThread)
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 42
    finally:
        await consumer.stop()
