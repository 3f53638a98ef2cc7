"""Acceptance 2: real neonize event objects → the right transport event and device status."""

from datetime import UTC, datetime, timedelta

import pytest

from device_host.transports.base import (
    Banned,
    Connected,
    DeviceInfo,
    Disconnected,
    IncomingMessage,
    LoggedOut,
    Paired,
    QrCode,
)
from device_host.transports.neonize_events import DEVICE_STATUS, HANDLED


def _jid(user: str, server: str = "s.whatsapp.net", device: int = 0):
    from neonize.proto.Neonize_pb2 import JID

    return JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def _events():
    from neonize import events as ev
    from neonize.proto.Neonize_pb2 import ConnectFailureReason
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage, Message

    def incoming(text: str, **source):
        msg = ev.MessageEv()
        msg.Info.MessageSource.Sender.CopyFrom(source.pop("sender", _jid("60199990000")))
        for key, value in source.items():
            setattr(msg.Info.MessageSource, key, value)
        msg.Info.Timestamp = 1_790_000_000
        msg.Message.CopyFrom(Message(extendedTextMessage=ExtendedTextMessage(text=text)))
        return msg

    lid_message = ev.MessageEv()
    lid_message.Info.MessageSource.Sender.CopyFrom(_jid("123456789012345", "lid"))
    lid_message.Info.MessageSource.SenderAlt.CopyFrom(_jid("60188880000"))
    lid_message.Message.conversation = "stop"
    return [
        ("connected", ev.ConnectedEv(status=True), Connected, {}),
        ("disconnected", ev.DisconnectedEv(status=True), Disconnected,
         {"reason": "the connection to WhatsApp dropped; reconnecting"}),
        ("keep-alive timeout", ev.KeepAliveTimeoutEv(ErrorCount=3, LastSuccess=1), Disconnected,
         {"reason": "WhatsApp stopped answering keep-alives (3 missed); reconnecting"}),
        ("paired", ev.PairStatusEv(ID=_jid("60123456789", device=7),
                                   Status=ev.PairStatusEv.PStatus.SUCCESS), Paired,
         {"jid": "60123456789@s.whatsapp.net", "phone": "+60123456789"}),
        ("logged out", ev.LoggedOutEv(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT),
         LoggedOut, {"reason": "WhatsApp logged this device out while connected (LOGGED_OUT)"}),
        ("stream replaced", ev.StreamReplacedEv(), LoggedOut,
         {"reason": "stream replaced: another client opened this session elsewhere"}),
        ("temporary ban", ev.TemporaryBanEv(Code=ev.TemporaryBanEv.TempBanReason.BLOCKED_BY_USERS,
                                            Expire=3600), Banned, {}),
        ("connect failure: logged out", ev.ConnectFailureEv(
            Reason=ConnectFailureReason.MAIN_DEVICE_GONE, Message="gone"), LoggedOut,
         {"reason": "connect refused: MAIN_DEVICE_GONE gone"}),
        ("connect failure: banned", ev.ConnectFailureEv(
            Reason=ConnectFailureReason.TEMP_BANNED), Banned, {}),
        ("connect failure: outdated", ev.ConnectFailureEv(
            Reason=ConnectFailureReason.CLIENT_OUTDATED), Disconnected,
         {"reason": "WhatsApp refused this client as outdated (405): upgrade neonize"}),
        ("connect failure: server", ev.ConnectFailureEv(
            Reason=ConnectFailureReason.SERVICE_UNAVAILABLE, Message="busy"), Disconnected,
         {"reason": "connect failed: SERVICE_UNAVAILABLE busy"}),
        ("incoming text", incoming("STOP please"), IncomingMessage,
         {"from_phone": "+60199990000", "text": "STOP please",
          "received_at": datetime.fromtimestamp(1_790_000_000, UTC)}),
        ("incoming via lid", lid_message, IncomingMessage,
         {"from_phone": "+60188880000", "text": "stop"}),
    ]


CASES = [
    "connected", "disconnected", "keep-alive timeout", "paired", "logged out", "stream replaced",
    "temporary ban", "connect failure: logged out", "connect failure: banned",
    "connect failure: outdated", "connect failure: server", "incoming text", "incoming via lid",
]


@pytest.fixture
def session(factory):
    got: list = []
    made = factory.open(DeviceInfo(device_id=9, user_id=1, name="ev"))
    made._on_event = got.append
    made.client = made._new_client()
    made.got = got
    yield made
    made.stop()


@pytest.mark.parametrize("name", CASES)
def test_event_maps_to_transport_event_and_device_status(session, name: str) -> None:
    (_, event, expected, fields), = [case for case in _events() if case[0] == name]
    before = datetime.now(UTC)
    session.handle(session.client, event)
    assert len(session.got) == 1, session.got
    got = session.got[0]
    assert type(got) is expected and got.device_id == 9
    for key, value in fields.items():
        assert getattr(got, key) == value, key
    if expected in DEVICE_STATUS:
        status = DEVICE_STATUS[expected]
        assert status == {Connected: "online", Paired: "online", Disconnected: "offline",
                          LoggedOut: "logged_out", Banned: "banned"}[expected]
    if name == "temporary ban":
        assert before + timedelta(seconds=3590) <= got.until <= datetime.now(UTC) + timedelta(
            seconds=3610)
        assert "blocked by too many users" in got.reason


def test_every_handled_event_type_is_registered_on_the_client(session) -> None:
    from neonize import events as ev
    from neonize.events import EVENT_TO_INT

    registered = set(session.client.event.list_func)
    assert {EVENT_TO_INT[getattr(ev, name)] for name in HANDLED} <= registered


def test_own_group_and_receipt_events_change_nothing(session) -> None:
    from neonize import events as ev

    mine = ev.MessageEv()
    mine.Info.MessageSource.IsFromMe = True
    mine.Info.MessageSource.Sender.CopyFrom(_jid("60100000000"))
    mine.Message.conversation = "hello"
    group = ev.MessageEv()
    group.Info.MessageSource.IsGroup = True
    group.Info.MessageSource.Sender.CopyFrom(_jid("60100000001"))
    group.Message.conversation = "STOP"
    failed_pair = ev.PairStatusEv(Status=ev.PairStatusEv.PStatus.ERROR, Error="bad")
    for event in (mine, group, ev.ReceiptEv(), failed_pair):
        session.handle(session.client, event)
    assert session.got == []


def test_qr_codes_become_qr_events_with_expiry_only_in_qr_mode(factory) -> None:
    got: list = []
    qr = factory.open(DeviceInfo(device_id=5, user_id=1, name="q", pairing_mode="qr"))
    qr._on_event = got.append
    qr.handle_qr(None, b"2@abc,def")
    qr.handle_qr(None, b"2@ghi,jkl")
    assert [type(e) for e in got] == [QrCode, QrCode]
    assert got[0].payload == "2@abc,def"
    first = (got[0].expires_at - datetime.now(UTC)).total_seconds()
    second = (got[1].expires_at - datetime.now(UTC)).total_seconds()
    assert 50 < first <= 60 and 10 < second <= 20
    code: list = []
    by_phone = factory.open(DeviceInfo(device_id=6, user_id=1, name="c", pairing_mode="code",
                                       pairing_phone="+60123456789"))
    by_phone._on_event = code.append
    by_phone._show_qr = False
    by_phone.handle_qr(None, b"2@abc")
    assert code == [] and by_phone._first_qr.is_set()
