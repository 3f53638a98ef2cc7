"""What a worker knows about one leased device, and which device statuses have a session.

Plain data: the Worker's loop is its only writer (sessions, sends and events come back to the loop
through queues), so it needs no lock.
"""

from collections import deque
from dataclasses import dataclass, field
from datetime import time as clock_time
from typing import Any

from device_host.transports.base import Transport

# a leased device in one of these statuses keeps a session; any other status is released
STARTABLE = ("pairing", "online", "offline")


@dataclass
class DeviceState:
    """What the loop knows about one leased device."""

    id: int
    user_id: int
    name: str = ""
    status: str = "online"
    jid: str | None = None
    phone: str | None = None
    pairing_mode: str | None = None
    pairing_phone: str | None = None
    hourly_cap: int | None = None
    daily_cap: int | None = None
    quiet_start: clock_time | None = None
    quiet_end: clock_time | None = None
    timezone: str | None = None
    session: Transport | None = None
    session_state: str = "stopped"  # stopped, starting, pairing, connected, disconnected
    ready_at: float = 0.0  # monotonic: device delay over
    poll_at: float = 0.0  # monotonic: look for work again
    has_work: bool = True
    in_flight: int | None = None
    start_failures: int = 0
    start_retry_at: float = 0.0
    offline_retries: int = 0
    pairing_deadline: float | None = None
    sends: deque = field(default_factory=deque)
    releasing: bool = False
    # the device's own caps (renew_devices); hourly_cap / daily_cap above are the ones in force:
    # these, lowered by the ban-risk guard (a warm-up stage's caps, the hourly cap halved while
    # the risk action is not 'none'; device_host/guard.py)
    own_hourly_cap: int | None = None
    own_daily_cap: int | None = None
    warmup_caps: tuple[int, int] | None = None  # (daily, hourly) of the warm-up stage
    risk_action: str = "none"

    def update(self, row: dict[str, Any]) -> None:
        """Take the device's current settings from a renew_devices row."""
        for key in ("user_id", "name", "status", "jid", "phone", "pairing_mode", "pairing_phone",
                    "quiet_start", "quiet_end", "timezone", "start_failures"):
            setattr(self, key, row[key])
        self.own_hourly_cap, self.own_daily_cap = row["hourly_cap"], row["daily_cap"]
        self._apply_caps()

    def guard(self, risk_action: str, warmup_caps: tuple[int, int] | None) -> None:
        """Take the ban-risk guard's decision (an assess_risk row, resolved to caps)."""
        self.risk_action, self.warmup_caps = risk_action, warmup_caps
        self._apply_caps()

    def _apply_caps(self) -> None:
        hourly, daily = self.own_hourly_cap, self.own_daily_cap
        if self.warmup_caps is not None:
            daily = min(daily or self.warmup_caps[0], self.warmup_caps[0])
            hourly = min(hourly or self.warmup_caps[1], self.warmup_caps[1])
        if hourly is not None and self.risk_action != "none":
            hourly = max(1, -(-hourly // 2))
        self.hourly_cap, self.daily_cap = hourly, daily
