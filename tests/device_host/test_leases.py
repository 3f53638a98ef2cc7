"""The lease pass of the worker on its own: which devices it takes, keeps, drops and releases,
against the test database, with the loop not running (sessions start on the simulated network)."""

from tests.device_host.idle_worker import idle_worker


def _owners(fleet, device_ids: list[int]) -> dict[int, str | None]:
    return dict(fleet.sql("SELECT id, lease_owner FROM devices WHERE id = ANY(:ids)",
                          ids=device_ids))


def test_a_pass_takes_free_startable_devices_up_to_the_worker_s_limit(
    fleet, fast_settings, database_url
):
    user = fleet.user()
    startable = [fleet.device(user, status=s) for s in ("online", "offline", "pairing")]
    disabled = fleet.device(user, status="disabled")
    with idle_worker(fast_settings, database_url, max_devices=2) as worker:
        worker._lease_pass()  # noqa: SLF001
        held = set(worker.devices)
        assert len(held) == 2 and held < set(startable)
        assert all(state.session_state == "starting" for state in worker.devices.values())
        owners = _owners(fleet, [*startable, disabled])
        assert {d for d, owner in owners.items() if owner == worker.owner} == held
        assert owners[disabled] is None


def test_a_device_disabled_meanwhile_is_released_and_a_lost_lease_is_dropped(
    fleet, fast_settings, database_url
):
    user = fleet.user()
    kept, disabled, taken = (fleet.device(user) for _ in range(3))
    with idle_worker(fast_settings, database_url) as worker:
        worker._lease_pass()  # noqa: SLF001
        assert set(worker.devices) == {kept, disabled, taken}
        fleet.sql("UPDATE devices SET status = 'disabled' WHERE id = :d", d=disabled)
        fleet.sql("UPDATE devices SET lease_owner = 'someone/else' WHERE id = :d", d=taken)
        worker._lease_pass()  # noqa: SLF001
        assert set(worker.devices) == {kept}
    assert _owners(fleet, [kept, disabled, taken]) == {
        kept: "part/w0", disabled: None, taken: "someone/else"}


def test_recent_sends_of_a_capped_device_are_loaded_when_it_is_taken(
    fleet, fast_settings, database_url
):
    user = fleet.user()
    device_id = fleet.device(user, hourly_cap=5)
    [message] = fleet.queue(user, device_id, status="sent")
    fleet.sql("UPDATE message_queue SET sent_at = now() - interval '10 minutes' WHERE id = :m",
              m=message)
    with idle_worker(fast_settings, database_url) as worker:
        worker._lease_pass()  # noqa: SLF001
        assert len(worker.devices[device_id].sends) == 1
