"""What an attempt's answer decides: delivered, failed for good, or tried again after a delay."""

import random

from dripfleet.stores.webhook_dispatch import RETRY_HOURS

# seconds before the next attempt after attempt n (1-based), for a first delay of 5 s; later
# attempts wait the last value. With ±20 % jitter, about 15 attempts fit in the 24 h window.
SCHEDULE = (5, 30, 120, 300, 600, 1200, 2400, 3600, 7200, 10800)
_SCHEDULE_FIRST = SCHEDULE[0]
JITTER = 0.2


def retry_delay(attempt: int, first_seconds: float = _SCHEDULE_FIRST) -> float:
    """Seconds to wait after failed attempt number `attempt`, jittered; scaled by first_seconds."""
    base = SCHEDULE[min(attempt, len(SCHEDULE)) - 1] * first_seconds / _SCHEDULE_FIRST
    return base * random.uniform(1 - JITTER, 1 + JITTER)


def decide(status_code: int | None, error: str | None, attempt: int, age_seconds: float,
           first_seconds: float = _SCHEDULE_FIRST) -> tuple[str, float | None, str | None]:
    """(outcome, retry_in, last_error) for an attempt that answered status_code or failed with
    error: 2xx delivered; 410 failed at once; else a retry while the delivery is younger than
    24 h at its next attempt, then failed."""
    if error is None and status_code is not None and 200 <= status_code < 300:
        return "delivered", None, None
    reason = error or _answer(status_code)
    if status_code == 410:
        return "failed", None, reason
    delay = retry_delay(attempt, first_seconds)
    if age_seconds + delay > RETRY_HOURS * 3600:
        return "failed", None, f"gave up after {attempt} attempts in {RETRY_HOURS:g} h: {reason}"
    return "retry", delay, reason


def _answer(status_code: int | None) -> str:
    if status_code is not None and 300 <= status_code < 400:
        return f"answered {status_code} (redirects are not followed)"
    return f"answered {status_code}"
