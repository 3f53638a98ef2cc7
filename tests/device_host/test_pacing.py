"""Quiet hours and caps, as the device loop applies them before a claim."""

from collections import deque
from datetime import UTC, datetime, time

from device_host.pacing import cap_wait_seconds, quiet_wait_seconds


def test_quiet_window_across_midnight_waits_until_its_end_in_local_time():
    # 23:30 in Kuala Lumpur (UTC+8) = 15:30 UTC; window 22:00-07:00 ends in 7.5 h
    now = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    wait = quiet_wait_seconds(now, time(22, 0), time(7, 0), "Asia/Kuala_Lumpur")
    assert wait == 7.5 * 3600


def test_outside_the_quiet_window_there_is_no_wait():
    now = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 local
    assert quiet_wait_seconds(now, time(22, 0), time(7, 0), "Asia/Kuala_Lumpur") == 0.0
    assert quiet_wait_seconds(now, None, None, None) == 0.0


def test_same_day_window_and_dst_zone():
    # 13:00 in New York on a summer day (UTC-4) inside 12:00-14:00: one hour left
    now = datetime(2026, 7, 1, 17, 0, tzinfo=UTC)
    assert quiet_wait_seconds(now, time(12, 0), time(14, 0), "America/New_York") == 3600


def test_hourly_cap_waits_until_the_oldest_send_in_the_hour_leaves_it():
    now = 10_000.0
    sends = deque([now - 3000, now - 2000, now - 1000])
    assert cap_wait_seconds(sends, now, 3, None) == 600
    assert cap_wait_seconds(sends, now, 4, None) == 0


def test_daily_cap_and_old_sends_are_forgotten():
    now = 200_000.0
    sends = deque([now - 90_000, now - 80_000, now - 10])
    assert cap_wait_seconds(sends, now, None, 2) == 6400
    assert len(sends) == 2  # the send older than a day was dropped
