"""The sending part of the worker on its own: which device may claim, and the retry backoff."""

from collections import deque
from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

from device_host.device_state import DeviceState
from device_host.sending import claimable, retry_backoff_seconds

NOW = 10_000.0
NOON_UTC = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ready(**changes) -> DeviceState:
    device = DeviceState(id=1, user_id=1, session=object(), session_state="connected",
                         has_work=True, ready_at=NOW - 1, poll_at=NOW - 1)
    return replace(device, **changes)


def test_a_connected_online_device_with_work_and_its_delay_over_may_claim():
    assert claimable(_ready(), NOW, NOON_UTC)


@pytest.mark.parametrize("changes", [
    {"has_work": False},
    {"in_flight": 7},
    {"session_state": "disconnected"},
    {"session": None},
    {"status": "offline"},
    {"releasing": True},
    {"ready_at": NOW + 1},
    {"poll_at": NOW + 1},
], ids=lambda c: next(iter(c)))
def test_a_device_missing_any_condition_does_not_claim_and_keeps_its_next_look(changes):
    device = _ready(**changes)
    poll_at = device.poll_at
    assert not claimable(device, NOW, NOON_UTC)
    assert device.poll_at == poll_at


def test_quiet_hours_push_the_next_look_to_the_end_of_the_window():
    device = _ready(quiet_start=time(11, 0), quiet_end=time(13, 30), timezone="UTC")
    assert not claimable(device, NOW, NOON_UTC)
    assert device.poll_at == NOW + 1.5 * 3600


def test_a_full_hourly_cap_pushes_the_next_look_until_the_oldest_send_leaves_the_hour():
    device = _ready(hourly_cap=2, sends=deque([NOW - 3000, NOW - 10]))
    assert not claimable(device, NOW, NOON_UTC)
    assert device.poll_at == NOW + 600
    device = _ready(hourly_cap=3, sends=deque([NOW - 3000, NOW - 10]))
    assert claimable(device, NOW, NOON_UTC)


def test_retry_backoff_doubles_with_each_attempt():
    assert [retry_backoff_seconds(30.0, n) for n in (0, 1, 2, 3)] == [30.0, 30.0, 60.0, 120.0]
