"""Receipts recorded in bulk: by device and provider id, read implies delivered, never backwards."""

from datetime import UTC, datetime, timedelta

from dripfleet.stores import sending

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _sent(fleet, user: int, device: int, provider_id: str) -> int:
    message = fleet.queue(user, device, 1)[0]
    fleet.sql("UPDATE message_queue SET status = 'sent', sent_at = :t, provider_message_id = :p"
              " WHERE id = :m", t=T0, p=provider_id, m=message)
    return message


def _row(fleet, message: int) -> tuple:
    return tuple(fleet.sql("SELECT delivered_at, read_at FROM message_queue WHERE id = :m",
                           m=message)[0])


def _events(fleet, message: int) -> dict:
    return dict(fleet.sql("SELECT kind, at FROM message_events WHERE message_id = :m", m=message))


def test_receipts_fill_in_times_once_and_never_go_back(fleet, engine):
    user = fleet.user()
    device, other = fleet.device(user), fleet.device(user)
    message = _sent(fleet, user, device, "P1")
    twin = _sent(fleet, user, other, "P1")  # the same id from another device is another message
    delivered, read = T0 + timedelta(seconds=5), T0 + timedelta(seconds=60)
    with engine.begin() as conn:
        # out of order, duplicated, and one id nobody sent
        counts = sending.record_receipts(conn, [
            (device, "P1", "read", read), (device, "P1", "delivered", delivered),
            (device, "P1", "delivered", delivered + timedelta(seconds=1)),
            (device, "NOPE", "read", read)])
    assert counts == {"events": 2, "messages": 1}
    assert _row(fleet, message) == (delivered, read)
    assert _events(fleet, message) == {"delivered": delivered, "read": read}
    assert _row(fleet, twin) == (None, None)
    with engine.begin() as conn:  # the same receipts again, and a later one: nothing changes
        again = sending.record_receipts(conn, [
            (device, "P1", "delivered", delivered), (device, "P1", "read", read + timedelta(1))])
    assert again == {"events": 0, "messages": 0}
    assert _row(fleet, message) == (delivered, read)


def test_a_read_without_a_delivery_receipt_implies_delivered(fleet, engine):
    user = fleet.user()
    device = fleet.device(user)
    message = _sent(fleet, user, device, "P2")
    read = T0 + timedelta(seconds=30)
    with engine.begin() as conn:
        sending.record_receipts(conn, [(device, "P2", "played", read)])
    assert _row(fleet, message) == (read, read)
    assert _events(fleet, message) == {"delivered": read, "played": read}
