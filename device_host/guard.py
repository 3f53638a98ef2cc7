"""The ban-risk guard's part of the worker: score the leased devices, apply warm-up caps and the
risk action to them, and record WhatsApp's restrictions (a 463 timelock on a send).

A mixin of Worker (device_host/worker.py; see device_host/leases.py for why mixins). The score
itself is one statement (sql/queries/risk.sql assess_risk) over every leased device, run from the
lease pass every RISK_CHECK_SECONDS and whenever the worker takes new devices; nothing of it runs
per message. What it decides reaches the send path through state the loop already reads: the caps
in force (DeviceState.hourly_cap / daily_cap, applied by pacing.py), the doubled delay and the held
new contacts (columns the claim and the outcome statement read on the device row they touch
anyway), and next_send_at moved to a restriction's end.
"""

import logging
import time
from datetime import UTC, datetime

from device_host.device_state import DeviceState
from dripfleet.stores import risk as risk_store
from dripfleet.stores.risk import Restriction
from dripfleet.stores.sending import Outcome

# the worker's parts log under one name, as the single module did
log = logging.getLogger("device_host.worker")


class Guard:
    """Risk scores, warm-up caps and restrictions of the leased devices."""

    def _guard_pass(self, new_ids: list[int]) -> list[DeviceState]:
        """Score the devices when due (or when some are new to this worker) and apply the
        decisions; returns the new devices that have caps only because of the guard."""
        now = time.monotonic()
        if not self.devices or (now < self._next_guard and not new_ids):
            return []
        if now >= self._next_guard:
            self._next_guard = now + self.settings.risk_check_seconds
            scored = sorted(self.devices)
        else:
            # only the devices new to this worker: with fair share, devices arrive in many small
            # moves, and each would otherwise rescore every device the worker holds
            scored = sorted(new_ids)
        settings = self.settings
        plan = settings.warmup_plan
        with self.engine.begin() as conn:
            rows = risk_store.assess_risk(
                conn, self.owner, scored, settings.risk_slow_at,
                settings.risk_pause_at, len(plan), settings.unanswered_budget)
        capped: list[DeviceState] = []
        for row in rows:
            state = self.devices.get(row["id"])
            if state is None:
                continue
            had_caps = bool(state.hourly_cap or state.daily_cap)
            stage = row["warmup_stage"]
            caps = plan[stage] if row["warmup"] and stage < len(plan) else None
            state.guard(row["risk_action"], caps)
            if row["action_changed"]:
                log.warning("%s: device %s risk %s: %s", self.owner, state.id, row["risk"],
                            row["risk_action"])
            if row["id"] in new_ids and not had_caps and (state.hourly_cap or state.daily_cap):
                capped.append(state)
        return capped

    def _restrict(self, restricted: list[tuple[DeviceState, Outcome]]) -> None:
        """WhatsApp restricted these devices (their sends answered 463): record it and wait."""
        now = time.monotonic()
        with self.engine.begin() as conn:
            waits = risk_store.restrict_devices(conn, self.owner, [
                Restriction(state.id, outcome.restricted_until or datetime.now(UTC),
                            outcome.restriction_kind or "timelock", outcome.error or "restricted")
                for state, outcome in restricted])
        for state, outcome in restricted:
            wait = waits.get(state.id)
            if wait is not None:
                state.ready_at = max(state.ready_at, now + wait)
                log.warning("%s: device %s restricted by WhatsApp for %.0f s: %s", self.owner,
                            state.id, wait, outcome.error)
