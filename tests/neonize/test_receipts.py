"""Constructed neonize ReceiptEv objects → Receipt events: only the recipient's delivered, read
and played receipts; our own other devices' (read-self, played-self) and the rest are dropped."""

from datetime import UTC, datetime

import pytest

from device_host.transports.base import Receipt
from device_host.transports.neonize_events import HANDLED, translate
from device_host.transports.neonize_transport import load_neonize

STAMP = 1_790_000_000
AT = datetime.fromtimestamp(STAMP, UTC)


def _receipt(kind: str, ids=("3EB0A1", "3EB0A2"), **source):
    load_neonize()  # the quiet import (neonize's own leaves a child process behind)
    from neonize import events as ev
    from neonize.proto.Neonize_pb2 import JID

    event = ev.ReceiptEv()
    event.Type = getattr(ev.ReceiptEv.ReceiptType, kind)
    event.MessageIDs.extend(ids)
    event.Timestamp = source.pop("timestamp", STAMP)
    event.MessageSource.Chat.CopyFrom(JID(User="60199990000", Server="s.whatsapp.net"))
    for key, value in source.items():
        setattr(event.MessageSource, key, value)
    return event


def test_receipts_are_handled():
    assert "ReceiptEv" in HANDLED


@pytest.mark.parametrize("kind,expected", [
    ("DELIVERED", "delivered"), ("READ", "read"), ("PLAYED", "played")])
def test_recipient_receipts_map_to_receipt_events(kind, expected):
    assert translate(7, _receipt(kind)) == [Receipt(7, ("3EB0A1", "3EB0A2"), expected, AT)]


def test_milliseconds_and_a_missing_time_are_read():
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert translate(7, _receipt("READ", timestamp=STAMP * 1000))[0].at == AT
    assert translate(7, _receipt("READ", timestamp=0), now)[0].at == now


@pytest.mark.parametrize("kind", [
    "READ_SELF", "PLAYED_SELF", "SENDER", "RETRY", "SERVER_ERROR", "INACTIVE", "PEER_MSG",
    "HISTORY_SYNC"])
def test_receipts_not_from_the_recipient_are_dropped(kind):
    assert translate(7, _receipt(kind)) == []


def test_our_own_devices_and_groups_and_empty_receipts_are_dropped():
    assert translate(7, _receipt("READ", IsFromMe=True)) == []
    assert translate(7, _receipt("DELIVERED", IsGroup=True)) == []
    assert translate(7, _receipt("DELIVERED", ids=())) == []
