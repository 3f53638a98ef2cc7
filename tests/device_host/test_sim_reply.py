"""`dripfleet sim-reply`: a simulated lead writes to a device, and the worker that drives it
receives it through the same inbound path as a real message (stored, opt-outs act)."""

import os
import subprocess
import sys


def _sim_reply(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dripfleet.cli", "sim-reply", *args],
        env={**os.environ, "DATABASE_URL": database_url, **env},
        capture_output=True, text=True, timeout=60)


def test_a_simulated_lead_writes_and_the_worker_stores_it(fleet, run_worker, database_url):
    user = fleet.user()
    device = fleet.device(user)
    lead_id, phone = fleet.lead(user)
    run_worker()
    fleet.wait_until(lambda: fleet.sql("SELECT count(*) FROM devices WHERE id = :d"
                                       " AND lease_owner IS NOT NULL", d=device)[0][0] == 1)
    done = _sim_reply(database_url, "--from", phone, "--to", str(device), "Is it still on?")
    assert done.returncode == 0, done.stderr
    fleet.wait_until(lambda: fleet.sql("SELECT count(*) FROM inbound_messages")[0][0] == 1)
    row = fleet.sql("SELECT lead_id, device_id, text FROM inbound_messages")[0]
    assert tuple(row) == (lead_id, device, "Is it still on?")
    assert _sim_reply(database_url, "--from", phone, "--to", str(device), "stop").returncode == 0
    fleet.wait_until(lambda: fleet.sql("SELECT opted_out_at IS NOT NULL FROM leads"
                                       " WHERE id = :l", l=lead_id)[0][0])


def test_sim_reply_refuses_bad_input_and_the_real_transport(database_url, fleet):
    device = fleet.device(fleet.user())
    bad_phone = _sim_reply(database_url, "--from", "12", "--to", str(device), "hi")
    assert bad_phone.returncode == 2 and "--from" in bad_phone.stderr
    no_device = _sim_reply(database_url, "--from", "+60123456789", "--to", "999999", "hi")
    assert no_device.returncode == 2 and "no device 999999" in no_device.stderr
    real = _sim_reply(database_url, "--from", "+60123456789", "--to", str(device), "hi",
                      TRANSPORT="neonize")
    assert real.returncode == 2 and "simulated" in real.stderr
    assert fleet.sql("SELECT count(*) FROM sim_inbox")[0][0] == 0
