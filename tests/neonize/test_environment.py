"""Acceptance 1: neonize imports in its own environment and a client is built on PostgreSQL."""

import subprocess
import sys
import threading

from sqlalchemy import text

from device_host.transports.base import DeviceInfo
from device_host.transports.neonize_errors import OfflineError
from device_host.transports.neonize_transport import SESSION_SCHEMA, session_store_dsn


def test_neonize_imports_with_protobuf_7_and_leaves_logging_alone() -> None:
    code = (
        "import logging, sys\n"
        "import device_host.transports, device_host.worker, device_host.transports.neonize\n"
        "assert 'neonize' not in sys.modules, 'imported before the transport was chosen'\n"
        "from device_host.transports.neonize_transport import load_neonize\n"
        "nz = load_neonize()\n"
        "from google.protobuf import __version__ as pb\n"
        "from neonize.client import NewClient\n"
        "assert tuple(int(x) for x in pb.split('.')[:2]) >= (7, 34), pb\n"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
        "print('OK', pb)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert "OK 7." in run.stdout


def test_session_store_dsn_names_its_own_schema() -> None:
    dsn = session_store_dsn("postgresql+psycopg://u:p@db:5432/app")
    assert dsn == "postgresql://u:p@db:5432/app?sslmode=prefer&search_path=whatsmeow"
    kept = session_store_dsn("postgresql://u@db/app?sslmode=require")
    assert kept == "postgresql://u@db/app?sslmode=require&search_path=whatsmeow"


def test_client_on_postgres_store_creates_whatsmeow_tables_in_own_schema(factory) -> None:
    events: list = []
    session = factory.open(DeviceInfo(device_id=1, user_id=1, name="d1", pairing_mode="qr"))
    try:
        session.start(events.append)
    except OfflineError as error:
        offline = error
    else:
        raise AssertionError("a client dialling through a closed proxy must be offline")
    assert "offline: WhatsApp is unreachable" in str(offline)
    assert session.client_uuid and len(session.client_uuid) == 32
    with factory.engine.begin() as conn:
        tables = set(conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
        ), {"s": SESSION_SCHEMA}).scalars())
        public = conn.execute(text(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_name LIKE 'whatsmeow%'")).scalar_one()
    assert "whatsmeow_device" in tables and len(tables) >= 15, tables
    assert public == 0
    assert events == []
    assert [t for t in threading.enumerate() if t.name.startswith("neonize-1")] == []


def test_each_client_object_gets_a_fresh_uuid_even_when_resuming_a_jid(factory) -> None:
    from neonize.client import NewClient

    a = factory.open(DeviceInfo(device_id=2, user_id=1, name="a"))
    b = factory.open(DeviceInfo(device_id=2, user_id=1, name="a"))
    first, second = a._new_client(), b._new_client()
    assert isinstance(first, NewClient)
    assert first.uuid != second.uuid
    assert first.name == factory.store_dsn
    resumed = factory.open(DeviceInfo(device_id=3, user_id=1, name="r",
                                      jid="60123456789@s.whatsapp.net"))
    client = resumed._new_client()
    # neonize would key it on the jid's user: a collected older object would stop this one
    assert client.uuid.decode() == resumed.client_uuid != "60123456789"
    assert client.jid.User == "60123456789"
    assert not client._stop_finalizer.alive


def test_resuming_a_jid_missing_from_the_store_logs_the_device_out(factory) -> None:
    from device_host.transports.base import DeviceFatalError, LoggedOut

    events: list = []
    session = factory.open(DeviceInfo(device_id=4, user_id=1, name="gone",
                                      jid="60111111111@s.whatsapp.net"))
    try:
        session.start(events.append)
    except DeviceFatalError as error:
        assert error.status == "logged_out"
        assert "pair it again" in str(error)
    else:
        raise AssertionError("a missing session must not be resumed")
    assert [type(e) for e in events] == [LoggedOut]
    assert session.client is None
    # a device that never paired has nothing to resume either
    never: list = []
    unpaired = factory.open(DeviceInfo(device_id=5, user_id=1, name="new"))
    try:
        unpaired.start(never.append)
    except DeviceFatalError as error:
        assert str(error) == "this device has no stored WhatsApp session: pair it again"
    else:
        raise AssertionError("a device without a session must not start")
    assert [type(e) for e in never] == [LoggedOut]
