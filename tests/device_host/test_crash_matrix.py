"""The crash matrix: real device-host processes on a PostgreSQL of the test's own, each fault
applied mid-run. For every fault: no message lost, duplicates only for sends in flight at the
fault, and the host running afterwards with no hand on it (crash_drills.py runs the drills)."""

import pytest

from tests.device_host.crash_drills import run_drill


@pytest.mark.parametrize("fault", ["worker_kill9", "supervisor_kill9", "postgres_restart"])
def test_fault_loses_nothing_and_the_host_recovers_by_itself(fault):
    result = run_drill(fault)
    print(result.line())
    assert result.lost == 0, result
    assert result.duplicates <= result.in_flight_at_fault, result
    assert result.host_running, result


def test_postgres_down_for_30_seconds_loses_nothing_and_the_host_recovers_by_itself():
    result = run_drill("postgres_down", outage_s=30.0)
    print(result.line())
    assert result.outage_s >= 30.0
    assert result.lost == 0, result
    assert result.duplicates <= result.in_flight_at_fault, result
    assert result.host_running, result
