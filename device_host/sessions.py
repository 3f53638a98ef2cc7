"""Sessions and pairing of the leased devices: start, stop, pairing deadlines, start failures,
offline retries, and the end of a session (logged out, banned, auto-paused).

A mixin of Worker (device_host/worker.py): the state it reads and writes lives on the Worker, see
device_host/leases.py for why. Starts and stops run on the worker's control threads (a real
transport blocks); their results come back through the event queue and are applied by the loop.
"""

import logging
import time
from datetime import datetime
from typing import Any

from device_host.device_state import STARTABLE, DeviceState
from device_host.transports.base import DeviceInfo, Transport, TransportError
from dripfleet.stores import hosts
from dripfleet.stores import sending as sending_store

# the worker's parts log under one name, as the single module did
log = logging.getLogger("device_host.worker")

# whatsmeow offers about 160 s of QR codes (notes/neonize.md)
PAIRING_TIMEOUT_SECONDS = 170.0
# offline (WhatsApp unreachable) retries back off up to this, without counting as start failures
OFFLINE_RETRY_MAX_SECONDS = 60.0


def offline_retry_seconds(retries: int) -> float:
    """How long a device waits to start again after its n-th start found WhatsApp unreachable."""
    return min(OFFLINE_RETRY_MAX_SECONDS, 0.5 * 2 ** min(retries, 8))


def start_retry_seconds(failures: int) -> float:
    """How long a device waits to start again after n failed starts in a row."""
    return min(30.0, 0.2 * 2 ** min(failures, 10))


class Sessions:
    """One transport session per leased device, in step with the device's status."""

    def _reconcile(self, state: DeviceState, now: float) -> None:
        if state.status not in STARTABLE:
            if state.session is not None or state.session_state != "stopped":
                self._stop_session(state, logout=state.status == "logged_out")
            state.releasing = True
            return
        if state.session_state == "stopped" and now >= state.start_retry_at:
            state.session_state = "starting"
            info = DeviceInfo(
                device_id=state.id, user_id=state.user_id, name=state.name, jid=state.jid,
                phone=state.phone,
                pairing_mode=(state.pairing_mode or "qr") if state.status == "pairing" else None,
                pairing_phone=state.pairing_phone,
            )
            self.control.submit(self._start_session, info)

    def _start_session(self, info: DeviceInfo) -> None:
        # runs on a control thread; results come back through the event queue
        try:
            session = self.factory.open(info)
            session.start(self._on_event)
            if info.pairing_mode == "code" and info.pairing_phone:
                session.pair_code(info.pairing_phone)
            elif info.pairing_mode is not None:
                session.pair_qr()
        except TransportError as error:
            # "offline" (WhatsApp unreachable) is the network's fault, not the device's: it must
            # not count towards DEVICE_START_FAILURE_LIMIT, or an outage would fail every device
            kind = "start_offline" if getattr(error, "device_status", None) == "offline" else (
                "start_failed")
            self.events.put((kind, info.device_id, str(error) or repr(error)))
        except Exception as error:  # noqa: BLE001 - any start failure counts against the device
            log.exception("%s: device %s failed to start", self.owner, info.device_id)
            self.events.put(("start_failed", info.device_id, f"unexpected error: {error}"))
        else:
            self.events.put(("started", info.device_id, session))
        self.wake.set()

    def _stop_session(self, state: DeviceState, logout: bool = False) -> None:
        session, state.session = state.session, None
        state.session_state = "stopped"
        state.pairing_deadline = None
        if session is not None:
            self.control.submit(self._close_session, session, logout)

    @staticmethod
    def _close_session(session: Transport, logout: bool) -> None:
        try:
            session.logout() if logout else session.stop()
        except Exception:  # noqa: BLE001 - a failing stop must not kill the worker
            log.exception("stopping a session failed")

    def _check_pairing_deadlines(self, now: float) -> None:
        for state in list(self.devices.values()):
            if state.pairing_deadline is not None and now > state.pairing_deadline:
                # written first: should the database be away, the deadline is checked again
                with self.engine.begin() as conn:
                    hosts.device_pairing_timeout(
                        conn, self.owner, state.id, "pairing timed out: nobody scanned the code"
                    )
                self._stop_session(state)
                state.status = "new"
                state.releasing = True
                self._lease_due = True

    def _session_started(self, kind: str, device_id: int, value: Any) -> None:
        """A session start came back (on the event queue): started, offline or failed."""
        state = self.devices.get(device_id)
        if kind == "started":
            if state is None or state.session is not None or state.session_state == "stopped":
                self.control.submit(self._close_session, value, False)
                return
            state.session = value
            if state.status == "pairing":
                state.session_state = "pairing"
                state.pairing_deadline = time.monotonic() + PAIRING_TIMEOUT_SECONDS
            elif state.session_state == "starting":
                state.session_state = "disconnected"  # until Connected arrives
        elif kind == "start_offline" and state is not None:
            state.session_state = "stopped"
            state.offline_retries += 1
            # a pairing device keeps pairing (and retries); any other one shows 'offline'
            status = "pairing" if state.status == "pairing" else "offline"
            with self.engine.begin() as conn:
                hosts.set_device_status(conn, self.owner, state.id, status, value)
            state.status = status
            state.start_retry_at = time.monotonic() + offline_retry_seconds(state.offline_retries)
        elif kind == "start_failed" and state is not None:
            state.session_state = "stopped"
            with self.engine.begin() as conn:
                row = hosts.device_start_failed(
                    conn, self.owner, device_id, value,
                    self.settings.device_start_failure_limit,
                )
            if row:
                state.start_failures = row["start_failures"]
                state.status = row["status"]
            state.start_retry_at = time.monotonic() + start_retry_seconds(state.start_failures)
            if state.status == "failed":
                state.releasing = True

    def _device_fatal(
        self, conn: Any, state: DeviceState, status: str, reason: str,
        until: datetime | None = None,
    ) -> None:
        """The session is over: record it, move unpinned messages, stop, and release later."""
        if state.status == status and state.releasing:
            return
        hosts.set_device_status(conn, self.owner, state.id, status, reason, until)
        moved = sending_store.failover_messages(conn, self.settings.queue_buffer_size, state.id)
        log.warning("%s: device %s %s (%s); moved %d messages", self.owner, state.id, status,
                    reason, moved)
        state.status = status
        self._stop_session(state, logout=False)
        state.releasing = True
        self._lease_due = True
