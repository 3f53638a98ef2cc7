"""The sessions part of the worker: start results, retries and pairing deadlines, recorded in
the test database by a worker whose loop does not run."""

from dataclasses import replace

from device_host.sessions import offline_retry_seconds, start_retry_seconds
from tests.device_host.idle_worker import hold, idle_worker


def test_offline_retries_double_from_a_second_up_to_a_minute():
    assert [offline_retry_seconds(n) for n in (1, 2, 3, 7, 50)] == [1.0, 2.0, 4.0, 60.0, 60.0]


def test_start_retries_double_from_0_4_seconds_up_to_30():
    assert [start_retry_seconds(n) for n in (1, 2, 7, 8, 50)] == [0.4, 0.8, 25.6, 30.0, 30.0]


def test_start_failures_count_until_the_limit_marks_the_device_failed(
    fleet, fast_settings, database_url
):
    device_id = fleet.device(fleet.user())
    settings = replace(fast_settings, device_start_failure_limit=2)
    with idle_worker(settings, database_url) as worker:
        state = hold(worker, device_id, session_state="starting")
        worker._session_started("start_failed", device_id, "no session")  # noqa: SLF001
        assert (state.status, state.start_failures, state.releasing) == ("online", 1, False)
        assert state.session_state == "stopped"
        worker._session_started("start_failed", device_id, "no session")  # noqa: SLF001
        assert (state.status, state.start_failures, state.releasing) == ("failed", 2, True)
    assert fleet.sql("SELECT status, start_failures, last_error FROM devices WHERE id = :d",
                     d=device_id) == [
        ("failed", 2, "session failed to start 2 times in a row: no session")]


def test_an_offline_start_shows_offline_and_does_not_count_as_a_failure(
    fleet, fast_settings, database_url
):
    device_id = fleet.device(fleet.user())
    with idle_worker(fast_settings, database_url) as worker:
        state = hold(worker, device_id, session_state="starting")
        worker._session_started("start_offline", device_id, "unreachable")  # noqa: SLF001
        assert (state.status, state.offline_retries, state.session_state) == (
            "offline", 1, "stopped")
    assert fleet.sql("SELECT status, start_failures, last_error FROM devices WHERE id = :d",
                     d=device_id) == [("offline", 0, "unreachable")]


class _Session:
    stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_a_session_that_starts_for_a_device_no_longer_held_is_stopped(fast_settings, database_url):
    session = _Session()
    with idle_worker(fast_settings, database_url) as worker:
        worker._session_started("started", 999, session)  # noqa: SLF001
    assert session.stopped  # the control pool has finished at the end of idle_worker


def test_a_pairing_nobody_scans_in_time_goes_back_to_new(fleet, fast_settings, database_url):
    device_id = fleet.device(fleet.user(), status="pairing")
    with idle_worker(fast_settings, database_url) as worker:
        state = hold(worker, device_id, session_state="pairing", pairing_deadline=5.0)
        worker._check_pairing_deadlines(4.0)  # noqa: SLF001
        assert state.status == "pairing"
        worker._check_pairing_deadlines(6.0)  # noqa: SLF001
        assert (state.status, state.releasing, state.session_state) == ("new", True, "stopped")
    assert fleet.sql("SELECT status, last_error FROM devices WHERE id = :d", d=device_id) == [
        ("new", "pairing timed out: nobody scanned the code")]
