"""The real `dripfleet device-host` with TRANSPORT=neonize, run from .venv-neonize, offline:
its devices show a readable offline error and are retried; the host keeps running and stops
cleanly on SIGTERM."""

import uuid

from sqlalchemy import Engine, text

from tests.device_host.hostproc import HostProcess
from tests.neonize.offline import closed_port
from tests.neonize.waiting import wait_rows


def test_neonize_device_host_offline_keeps_running_and_retries(
    database_url: str, engine: Engine, tmp_path
) -> None:
    with engine.begin() as conn:
        user = conn.execute(text("INSERT INTO users (email, name) VALUES (:e, 'h') RETURNING id"),
                            {"e": f"{uuid.uuid4().hex}@example.com"}).scalar_one()
        devices = [conn.execute(text(
            "INSERT INTO devices (user_id, name, status, pairing_mode) VALUES (:u, :n,"
            " 'pairing', 'qr') RETURNING id"),
            {"u": user, "n": f"real{n}"}).scalar_one() for n in range(2)]
    host = HostProcess(database_url, tmp_path / "host.log", TRANSPORT="neonize",
                       WHATSAPP_PROXY=f"socks5://127.0.0.1:{closed_port()}",
                       DEVICE_START_FAILURE_LIMIT="50")
    try:
        host.wait_info(engine, timeout=60)
        # offline is the network's fault: the error is shown, the start is retried with
        # backoff, and no start failure is counted (an outage must not fail every device)
        query = text("SELECT id, status, start_failures, last_error, updated_at FROM devices"
                     " WHERE id = ANY(:ids) ORDER BY id")
        first = wait_rows(engine, query, devices, lambda r: r.last_error is not None)
        for row in first:
            assert row.last_error.startswith("offline: WhatsApp is unreachable from this host"), row
            assert row.status == "pairing" and row.start_failures == 0, row
        first_seen = {row.id: row.updated_at for row in first}
        retried = wait_rows(engine, query, devices, lambda r: r.updated_at > first_seen[r.id])
        host.check_running()
        assert all(row.start_failures == 0 for row in retried), (retried, host.tail())
        code, _seconds = host.terminate()
        assert code == 0, host.tail()
    finally:
        host.kill()
    assert "Traceback" not in (tmp_path / "host.log").read_text()
