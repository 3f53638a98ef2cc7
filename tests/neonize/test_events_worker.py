"""Acceptance 2, end to end: real neonize event objects, handed to the transport's registered
handler, drive the real device-host worker to the right device status in the database.

Only the network is missing: the sessions' start() builds the real client and registers the real
handlers but does not dial (there is no WhatsApp here); everything after the handler is real.
"""

import threading
import time
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import text

from tests.neonize.undialled import UndialledFactory


def _jid(user: str):
    from neonize.proto.Neonize_pb2 import JID

    return JID(User=user, Server="s.whatsapp.net", Device=0, RawAgent=0, Integrator=0,
               IsEmpty=False)


@pytest.fixture
def world(nz_env, nz_database_url: str, monkeypatch):
    from device_host.worker import Worker
    from dripfleet.database import get_engine
    from dripfleet.settings import load_settings

    monkeypatch.setenv("HEALTH_CHECK_SECONDS", "0.3")
    settings = replace(load_settings(), min_delay_seconds=0, max_delay_seconds=0)
    engine = get_engine(nz_database_url)
    with engine.begin() as conn:
        user = conn.execute(text("INSERT INTO users (email, name) VALUES (:e, 'w') RETURNING id"),
                            {"e": f"{uuid.uuid4().hex}@example.com"}).scalar_one()
        devices = [conn.execute(text(
            "INSERT INTO devices (user_id, name, status) VALUES (:u, :n, 'online') RETURNING id"),
            {"u": user, "n": f"ev{n}"}).scalar_one() for n in range(3)]
        conn.execute(text("INSERT INTO leads (user_id, phone) VALUES (:u, '+60177770000')"),
                     {"u": user})
    factory = UndialledFactory(settings, nz_database_url)
    worker = Worker(settings, nz_database_url, f"test/{uuid.uuid4().hex[:6]}", 10, 4,
                    factory=factory)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    _wait(lambda: all(d in factory.by_device for d in devices), "sessions to start")
    yield engine, factory, devices, user
    worker.request_stop()
    thread.join(30)


def _wait(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _device(engine, device_id: int):
    with engine.begin() as conn:
        return conn.execute(text("SELECT status, last_error, banned_until FROM devices"
                                 " WHERE id = :d"), {"d": device_id}).one()


def test_real_events_set_device_statuses_through_the_worker(world) -> None:
    from neonize import events as ev
    from neonize.proto.Neonize_pb2 import ConnectFailureReason

    engine, factory, (first, second, third), user = world
    one = factory.by_device[first]
    one.handle(one.client, ev.ConnectedEv(status=True))
    one.handle(one.client, ev.DisconnectedEv(status=True))
    _wait(lambda: _device(engine, first).status == "offline", "offline after Disconnected")
    assert _device(engine, first).last_error == "the connection to WhatsApp dropped; reconnecting"
    one.handle(one.client, ev.ConnectedEv(status=True))
    _wait(lambda: _device(engine, first).status == "online", "online after Connected")
    one.handle(one.client, ev.TemporaryBanEv(
        Code=ev.TemporaryBanEv.TempBanReason.SEND_TO_TOO_MANY_PEOPLE, Expire=7200))
    _wait(lambda: _device(engine, first).status == "banned", "banned after TemporaryBan")
    banned = _device(engine, first)
    assert "temporary ban (sent to too many people)" in banned.last_error
    assert banned.banned_until is not None
    # and a restriction of the ban-risk guard, with its stated end (lifted then by the supervisor)
    with engine.begin() as conn:
        restricted = conn.execute(text(
            "SELECT restricted_until, restriction_kind, restriction_reason FROM devices"
            " WHERE id = :d"), {"d": first}).one()
        kinds = conn.execute(text("SELECT kind FROM device_risk_events WHERE device_id = :d"),
                             {"d": first}).scalars().all()
    assert restricted[:2] == (banned.banned_until, "temporary_ban")
    assert "sent to too many people" in restricted.restriction_reason
    assert kinds == ["temporary_ban"]

    two = factory.by_device[second]
    two.handle(two.client, ev.ConnectedEv(status=True))
    two.handle(two.client, ev.StreamReplacedEv())
    _wait(lambda: _device(engine, second).status == "logged_out", "logged_out (stream replaced)")
    assert "stream replaced" in _device(engine, second).last_error

    three = factory.by_device[third]
    three.handle(three.client, ev.ConnectedEv(status=True))
    stop = ev.MessageEv()
    stop.Info.MessageSource.Sender.CopyFrom(_jid("60177770000"))
    stop.Message.conversation = "STOP"
    three.handle(three.client, stop)

    def opted_out() -> bool:
        with engine.begin() as conn:
            return conn.execute(text("SELECT opted_out_at IS NOT NULL FROM leads WHERE user_id"
                                     " = :u AND phone = '+60177770000'"), {"u": user}).scalar()

    _wait(opted_out, "the STOP reply to opt the lead out")
    three.handle(three.client, ev.LoggedOutEv(OnConnect=True,
                                              Reason=ConnectFailureReason.LOGGED_OUT))
    _wait(lambda: _device(engine, third).status == "logged_out", "logged_out after LoggedOut")
    assert _device(engine, third).last_error == (
        "WhatsApp logged this device out while connecting (LOGGED_OUT)")
