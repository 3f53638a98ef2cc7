"""Ban-prevention pacing that the device loop applies before a claim: quiet hours and caps."""

from collections import deque
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOUR = 3600.0
DAY = 86400.0


def quiet_wait_seconds(
    now: datetime, start: time | None, end: time | None, timezone: str | None
) -> float:
    """Seconds until the quiet window [start, end) in timezone ends; 0 when outside it.

    A window whose start is after its end spans midnight (22:00-07:00)."""
    if start is None or end is None or start == end:
        return 0.0
    zone = ZoneInfo(timezone or "UTC")
    local = now.astimezone(zone)
    at = local.time().replace(tzinfo=None)
    inside = start <= at < end if start < end else (at >= start or at < end)
    if not inside:
        return 0.0
    end_day = local.date() if at < end else local.date() + timedelta(days=1)
    # fold=0 and re-normalising through UTC keeps DST gaps and repeats harmless: at worst the
    # device waits an extra hour on the night the clocks change
    end_local = datetime.combine(end_day, end, tzinfo=zone)
    wait = (end_local.astimezone(UTC) - now.astimezone(UTC)).total_seconds()
    return max(wait, 1.0)


def cap_wait_seconds(
    sends: deque[float], now: float, hourly_cap: int | None, daily_cap: int | None
) -> float:
    """Seconds until another send fits both caps, given the monotonic times of recent sends.

    Drops sends older than a day from `sends` (oldest first)."""
    while sends and now - sends[0] >= DAY:
        sends.popleft()
    wait = 0.0
    if daily_cap is not None and len(sends) >= daily_cap:
        wait = max(wait, sends[len(sends) - daily_cap] + DAY - now)
    if hourly_cap is not None:
        last_hour = [t for t in sends if now - t < HOUR]
        if len(last_hour) >= hourly_cap:
            wait = max(wait, last_hour[len(last_hour) - hourly_cap] + HOUR - now)
    return wait
