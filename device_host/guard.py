"""The ban-risk guard's part of the worker: score the leased devices, apply warm-up caps and the
risk action to them, and record WhatsApp's restrictions (a 463 timelock on a send).

A mixin of Worker (device_host/worker.py; see device_host/leases.py for why mixins). The score
itself is one statement (sql/queries/risk.sql assess_risk) over every leased device, every
RISK_CHECK_SECONDS; nothing of it runs per message. It runs on a thread of its own, never on the
loop: it reads the user's sends of 24 h and takes seconds, on a loaded database minutes (issue 16:
the loop waited up to three minutes in it, its message leases ran out, the messages it had sent
were queued again and another host sent them a second time). Its decisions are written on the
device rows, and reach the send path through state the loop already reads: the lease pass takes
the risk action and warm-up stage from renew_devices and derives the caps in force
(DeviceState.hourly_cap / daily_cap, applied by pacing.py); the doubled delay and the held new
contacts are columns the claim and the outcome statement read on the device row they touch
anyway; a restriction moves next_send_at to its end.
"""

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from device_host.device_state import DeviceState
from dripfleet.database_outage import is_outage
from dripfleet.stores import risk as risk_store
from dripfleet.stores.risk import Restriction
from dripfleet.stores.sending import Outcome

# the worker's parts log under one name, as the single module did
log = logging.getLogger("device_host.worker")

SLOW_SCORING_SECONDS = 10.0


class Guard:
    """Risk scores, warm-up caps and restrictions of the leased devices."""

    def _guard_decision(self, state: DeviceState, row: dict[str, Any]) -> None:
        """Apply the guard's last decision on a device (a renew_devices row) to its caps."""
        plan = self.settings.warmup_plan
        stage = row["warmup_stage"]
        caps = plan[stage] if row["warmup"] and stage < len(plan) else None
        state.guard(row["risk_action"], caps)

    def _guard_pass(self) -> None:
        """Start a scoring of the leased devices on the guard's thread when one is due and none
        is running; the loop never waits for it (it reads what the scoring decided from the
        device rows at its next lease pass)."""
        now = time.monotonic()
        if not self._running or not self.devices or now < self._next_guard:
            return  # (a worker whose loop does not run, a test's, scores nothing)
        if self._guard_thread is not None and self._guard_thread.is_alive():
            return  # still scoring (a slow database): the next one starts when it is over
        self._next_guard = now + self.settings.risk_check_seconds
        self._guard_thread = threading.Thread(
            target=self._score, args=(sorted(self.devices),), name="guard", daemon=True)
        self._guard_thread.start()

    def _score(self, device_ids: list[int]) -> None:
        """On the guard's thread: score the devices and write the decisions (assess_risk only
        touches devices still leased to this worker). A daemon thread: a worker that stops does
        not wait for a scoring."""
        settings = self.settings
        started = time.monotonic()
        try:
            with self.engine.connect() as conn:
                # what a stopping worker cancels (_stop_guard)
                self._guard_connection = conn.connection.dbapi_connection
                try:
                    with conn.begin():
                        rows = risk_store.assess_risk(
                            conn, self.owner, device_ids, settings.risk_slow_at,
                            settings.risk_pause_at, len(settings.warmup_plan),
                            settings.unanswered_budget)
                finally:
                    self._guard_connection = None
        except Exception as error:  # noqa: BLE001 - the next scoring tries again
            if self.stop_event.is_set():
                return  # cancelled by the stop
            if is_outage(error):
                log.info("%s: scoring the devices waits for the database (%s)", self.owner,
                         type(error).__name__)
            else:
                log.exception("%s: scoring the devices failed", self.owner)
            return
        took = time.monotonic() - started
        if took > SLOW_SCORING_SECONDS:
            # it should take well under a second for 1,500 devices: a slow one is a plan gone
            # wrong or a starved database, and its decisions arrive late
            log.warning("%s: scoring %d devices took %.1f s", self.owner, len(device_ids), took)
        for row in rows:
            if row["action_changed"]:
                log.warning("%s: device %s risk %s: %s", self.owner, row["id"], row["risk"],
                            row["risk_action"])
        # the caps in force follow from the device rows at the next lease pass: soon
        self._lease_due = True
        self.wake.set()

    def _stop_guard(self) -> None:
        """A stopping worker cancels the scoring under way (it may take minutes) and lets its
        thread return its connection."""
        thread = self._guard_thread
        if thread is None or not thread.is_alive():
            return
        connection = self._guard_connection
        if connection is not None:
            try:
                connection.cancel_safe()
            except Exception:  # noqa: BLE001 - best effort: the statement ends by itself
                log.debug("%s: cancelling the scoring failed", self.owner, exc_info=True)
        thread.join(timeout=5)

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
