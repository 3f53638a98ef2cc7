"""Acceptance 3: the exceptions neonize really raises offline → offline / transient; no crash."""

import threading
import time
import uuid

from sqlalchemy import text

from device_host.transports.base import DeviceInfo, TransientError
from device_host.transports.neonize_errors import OfflineError, classify
from tests.neonize.waiting import wait_rows


def _raw_client(factory):
    from neonize.client import NewClient

    return NewClient(factory.store_dsn, uuid=uuid.uuid4().hex, new_device=True)


def test_dial_failure_is_offline_with_a_readable_error(factory) -> None:
    from neonize.client import ProxySettings
    from neonize.exc import NeonizeError

    client = _raw_client(factory)
    try:
        client.connect(ProxySettings(proxy_address=factory.settings.whatsapp_proxy))
    except NeonizeError as error:
        raised = error
    else:
        raise AssertionError("connect through a closed proxy must fail")
    finally:
        client.stop()
    assert "failed to dial whatsapp web websocket" in str(raised)
    mapped = classify(raised, "connect")
    assert isinstance(mapped, OfflineError) and isinstance(mapped, TransientError)
    assert mapped.device_status == "offline"
    assert str(mapped).startswith("offline: WhatsApp is unreachable from this host")


def test_send_and_check_before_connect_are_transient(factory) -> None:
    from neonize.exc import IsOnWhatsAppError, SendMessageError
    from neonize.utils import build_jid

    client = _raw_client(factory)
    try:
        client.send_message(build_jid("60123456789"), "hello")
    except SendMessageError as error:
        send_error = error
    else:
        raise AssertionError("a send before connect must fail")
    try:
        client.is_on_whatsapp("+60123456789")
    except IsOnWhatsAppError as error:
        check_error = error
    else:
        raise AssertionError("a check before connect must fail")
    for error in (send_error, check_error):
        mapped = classify(error, "send")
        assert type(mapped) is TransientError, (error, mapped)
        assert "not connected" in str(mapped)


def test_transport_calls_on_a_session_that_is_not_running_are_transient(factory) -> None:
    session = factory.open(DeviceInfo(device_id=21, user_id=1, name="idle"))
    for call in (lambda: session.send_text("+60123456789", "hi"),
                 lambda: session.is_on_whatsapp("+60123456789"),
                 lambda: session.send_document("+60123456789", b"%PDF-1.4", "a.pdf")):
        try:
            call()
        except TransientError as error:
            assert "session is not running" in str(error)
        else:
            raise AssertionError("a call on a session that never started must fail")
    session.stop()
    session.stop()  # stopping twice is harmless


def test_offline_device_host_keeps_running_and_retries(
    nz_env, nz_database_url: str, monkeypatch
) -> None:
    from dataclasses import replace

    from device_host.transports.neonize_transport import NeonizeFactory
    from device_host.worker import Worker
    from dripfleet.database import get_engine
    from dripfleet.settings import load_settings

    monkeypatch.setenv("HEALTH_CHECK_SECONDS", "0.3")
    settings = replace(load_settings(), device_start_failure_limit=50)
    engine = get_engine(nz_database_url)
    with engine.begin() as conn:
        user = conn.execute(text(
            "INSERT INTO users (email, name, password_hash) VALUES (:e, 'n', 'x') RETURNING id"),
            {"e": f"{uuid.uuid4().hex}@example.com"}).scalar_one()
        devices = [conn.execute(text(
            "INSERT INTO devices (user_id, name, status, pairing_mode) VALUES (:u, :n,"
            " 'pairing', 'qr') RETURNING id"),
            {"u": user, "n": f"nz{n}"}).scalar_one() for n in range(3)]
    worker = Worker(settings, nz_database_url, "test/nz-offline", 10, 4,
                    factory=NeonizeFactory(settings, nz_database_url))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        # offline is the network's fault: the error is shown and the start retried with
        # backoff, but no start failure is counted (an outage must not fail every device)
        query = text("SELECT id, status, start_failures, last_error, updated_at FROM devices"
                     " WHERE id = ANY(:ids)")
        first = wait_rows(engine, query, devices, lambda r: r.last_error is not None)
        for row in first:
            assert row.last_error.startswith("offline: WhatsApp is unreachable from this host"), row
            assert row.status == "pairing" and row.start_failures == 0, row
        seen = {row.id: row.updated_at for row in first}
        retried = wait_rows(engine, query, devices, lambda r: r.updated_at > seen[r.id])
        assert thread.is_alive(), "the device host died"
        assert all(row.start_failures == 0 for row in retried), retried
    finally:
        worker.request_stop()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_started_session_that_loses_whatsapp_reports_offline_and_redials(
    factory, monkeypatch
) -> None:
    from device_host.transports import neonize_transport
    from device_host.transports.base import Disconnected

    monkeypatch.setattr(neonize_transport, "RECONNECT_MIN_SECONDS", 0.05)
    got: list = []
    session = factory.open(DeviceInfo(device_id=22, user_id=1, name="redial",
                                      pairing_mode="qr"))
    session._on_event = got.append
    session.client = session._new_client()
    session._start_returned = True  # start() already returned: failures now mean "reconnect"
    first_uuid = session.client_uuid
    runner = threading.Thread(target=session._run, daemon=True)
    runner.start()
    deadline = time.monotonic() + 30
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    session.stop()
    runner.join(15)
    assert not runner.is_alive()
    assert len(got) >= 3, got
    assert all(type(e) is Disconnected for e in got)
    assert got[0].reason.startswith("offline: WhatsApp is unreachable from this host")
    assert session.client_uuid != first_uuid  # each redial uses a fresh client object
