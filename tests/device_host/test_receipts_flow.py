"""Receipts end to end on the simulated network: sent → delivered → read, recorded in bulk."""


def _receipts(fleet) -> list:
    return fleet.sql("SELECT id, sent_at, delivered_at, read_at FROM message_queue ORDER BY id")


def test_every_message_is_delivered_then_read_when_every_lead_reads(fleet, run_worker):
    user = fleet.user()
    devices = [fleet.device(user), fleet.device(user)]
    messages = [m for d in devices for m in fleet.queue(user, d, 10)]
    run_worker(sim_deliver_seconds=0.05, sim_read_rate=1.0)
    fleet.wait_until(lambda: all(r.read_at for r in _receipts(fleet)))
    rows = _receipts(fleet)
    assert [r.id for r in rows] == messages
    assert all(r.sent_at <= r.delivered_at <= r.read_at for r in rows)
    events = fleet.sql("SELECT kind, count(*) FROM message_events GROUP BY kind ORDER BY kind")
    assert events == [("delivered", 20), ("read", 20)]


def test_nobody_reads_when_the_read_rate_is_zero(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user)
    fleet.queue(user, device, 5)
    run_worker(sim_deliver_seconds=0.05, sim_read_rate=0.0)
    fleet.wait_until(lambda: all(r.delivered_at for r in _receipts(fleet)))
    assert [r.read_at for r in _receipts(fleet)] == [None] * 5


def test_a_receipt_reported_before_its_send_returns_is_still_recorded(
    fleet, fast_settings, database_url,
):
    import threading
    from datetime import UTC, datetime

    from device_host.transports.base import Receipt
    from device_host.worker import Worker
    from tests.device_host.gated import GatedFactory, GatedNetwork, GatedSession

    class EarlySession(GatedSession):
        """WhatsApp's receipt overtakes the send's own return (it can, on another thread)."""

        def start(self, on_event):
            self.on_event = on_event
            super().start(on_event)

        def send_text(self, to, text):
            result = super().send_text(to, text)
            self.on_event(Receipt(self.device.device_id, (result.provider_message_id,),
                                  "delivered", datetime.now(UTC)))
            return result

    class EarlyFactory(GatedFactory):
        def open(self, device):
            return EarlySession(self.network, device)

    user = fleet.user()
    device = fleet.device(user)
    fleet.queue(user, device, 10)
    worker = Worker(fast_settings, database_url, "early/w0", 5, 5,
                    factory=EarlyFactory(GatedNetwork()))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        fleet.wait_until(lambda: all(r.delivered_at for r in _receipts(fleet)))
    finally:
        worker.request_stop()
        thread.join(timeout=30)
    assert fleet.sql("SELECT count(*) FROM message_events WHERE kind = 'delivered'") == [(10,)]
