"""Device leases: renew, acquire and release the devices a worker drives.

A mixin of Worker (device_host/worker.py). Mixins rather than collaborator objects, because every
part of the worker reads the same state (the leased devices, the messages in flight, the wake-ups):
that state stays on the one Worker and each part reaches it, and the others, through self.
"""

import logging
import time

from device_host.device_state import STARTABLE, DeviceState
from dripfleet.stores import hosts
from dripfleet.stores import sending as sending_store

# the worker's parts log under one name, as the single module did
log = logging.getLogger("device_host.worker")


class Leases:
    """The lease pass: which devices this worker holds, and what it knows about each."""

    def _lease_pass(self) -> None:
        now = time.monotonic()
        self._lease_due = False
        self._last_lease = now
        self._next_lease = now + self.health_s
        with self.engine.begin() as conn:
            rows = hosts.renew_devices(conn, self.owner, self.lease_s)
            sending_store.renew_message_leases(conn, self.owner, self.lease_s, list(self.in_flight))
            room = self._quota() - sum(
                1 for r in rows if r["status"] in STARTABLE
                and not (r["id"] in self.devices and self.devices[r["id"]].releasing))
            if (room > 0 and not self.stop_event.is_set()
                    and hosts.acquire_devices(conn, self.owner, room, self.lease_s)):
                rows = hosts.renew_devices(conn, self.owner, self.lease_s)
        seen = {row["id"] for row in rows}
        for device_id in [d for d in self.devices if d not in seen]:
            log.warning("%s: lost the lease of device %s", self.owner, device_id)
            self._stop_session(self.devices.pop(device_id))
        new_capped: list[DeviceState] = []
        new_ids: list[int] = []
        for row in rows:
            state = self.devices.get(row["id"])
            if state is None:
                state = DeviceState(id=row["id"], user_id=row["user_id"], has_work=False)
                new_ids.append(row["id"])
                state.ready_at = now + max(row["wait_s"], 0.0)
                self.devices[row["id"]] = state
                state.update(row)
                if state.hourly_cap or state.daily_cap:
                    new_capped.append(state)
            else:
                was = state.status
                state.update(row)
                if was != "pairing" and state.status == "pairing" and state.session is not None:
                    self._stop_session(state)  # asked to pair again: restart in pairing mode
            self._reconcile(state, now)
        new_capped += self._guard_pass(new_ids)  # warm-up caps, risk action (guard.py)
        if new_capped:
            self._load_recent_sends(new_capped)
        self._probe(new_ids)
        self._give_up_surplus()
        done = [s for s in self.devices.values() if s.releasing and s.in_flight is None]
        # a startable device being released is surplus: the other hosts' workers are woken
        surplus = [s.id for s in done if s.status in STARTABLE]
        released = [s.id for s in done if s.status not in STARTABLE]
        if done:
            with self.engine.begin() as conn:
                if released:
                    hosts.release_devices(conn, self.owner, released)
                hosts.release_surplus(conn, self.owner, surplus)
            for state in done:
                self._stop_session(self.devices.pop(state.id))
            if surplus:
                log.info("%s: gave up %d devices above its share", self.owner, len(surplus))

    def _quota(self) -> int:
        """How many devices this worker may hold: its part of the host's fair share."""
        if self.share is None:  # a worker on its own (tests): as many as it can drive
            return self.max_devices
        return min(self.max_devices, int(self.share.quota.value))

    def _give_up_surplus(self) -> None:
        """Mark devices above the quota for release when the host holds more than its share, as
        many as the host's move budget allows; each is released once its send in flight is over
        (it claims no new one meanwhile)."""
        if self.share is None:
            return
        quota = self._quota()
        held = [s for s in self.devices.values() if s.status in STARTABLE and not s.releasing]
        if len(held) <= self.share.keep.value:
            return
        # a pairing device is being scanned here: moving it would show the user a new code
        movable = [s for s in held if s.status != "pairing"]
        # idle devices first: nothing to wait for, nothing queued behind them for a while
        movable.sort(key=lambda s: (s.in_flight is not None, s.has_work, -s.id))
        granted = self.share.take_moves(min(len(held) - quota, len(movable)))
        for state in movable[:granted]:
            state.releasing = True

    def _load_recent_sends(self, states: list[DeviceState]) -> None:
        with self.engine.begin() as conn:
            ages = sending_store.recent_sends(
                conn, sorted({s.user_id for s in states}), [s.id for s in states]
            )
        now = time.monotonic()
        for device_id, age in sorted(ages, key=lambda item: -item[1]):
            self.devices[device_id].sends.append(now - age)

    def _release_all(self) -> None:
        with self.engine.begin() as conn:
            hosts.release_devices(conn, self.owner, None)
