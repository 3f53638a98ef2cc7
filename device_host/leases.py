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
            room = self.max_devices - sum(1 for r in rows if r["status"] in STARTABLE)
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
        if new_capped:
            self._load_recent_sends(new_capped)
        self._probe(new_ids)
        released = [s.id for s in self.devices.values() if s.releasing and s.in_flight is None]
        if released:
            with self.engine.begin() as conn:
                hosts.release_devices(conn, self.owner, released)
            for device_id in released:
                self.devices.pop(device_id, None)

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
