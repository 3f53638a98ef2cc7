"""Device leases: renew, acquire and release the devices a worker drives; and the leases of the
messages it is sending, kept by a thread of their own.

A mixin of Worker (device_host/worker.py). Mixins rather than collaborator objects, because every
part of the worker reads the same state (the leased devices, the messages in flight, the wake-ups):
that state stays on the one Worker and each part reaches it, and the others, through self.

A message's lease says "a live process is sending this": when it runs out, a supervisor queues the
message again (at-least-once). So it must never run out while this worker is alive and the send or
its unrecorded outcome is still in its hands, however long the loop is held up (a slow statement
on a loaded database: issue 16, where loops held up for up to three minutes let messages they
had sent be queued again, for another host to send a second time). The lease keeper renews them
every health interval from its own thread, independent of the loop; the lease pass does too.
Device leases stay with the loop: a loop held up longer than a lease lets other hosts take its
devices, which is what keeps the fleet sending (they cannot claim on a device whose message is
still leased here, so one send per device holds).
"""

import logging
import threading
import time

from device_host.device_state import STARTABLE, DeviceState
from dripfleet.database_outage import is_outage
from dripfleet.stores import hosts
from dripfleet.stores import sending as sending_store

# the worker's parts log under one name, as the single module did
log = logging.getLogger("device_host.worker")

# the lease keeper gives up on a loop that has not come round for this many lease times: a worker
# stuck for good is as good as dead, and what it was sending goes back to the queue
KEEPER_STALL_LEASES = 10


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
                self._guard_decision(state, row)  # warm-up caps, risk action (guard.py)
                if state.hourly_cap or state.daily_cap:
                    new_capped.append(state)
            else:
                was = state.status
                state.update(row)
                self._guard_decision(state, row)
                if was != "pairing" and state.status == "pairing" and state.session is not None:
                    self._stop_session(state)  # asked to pair again: restart in pairing mode
            self._reconcile(state, now)
        self._guard_pass()  # a scoring when due, on the guard's own thread (guard.py)
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

    # -- message leases, kept from a thread of their own ----------------------------------------

    def _start_lease_keeper(self) -> None:
        self._keeper = threading.Thread(target=self._keep_message_leases, name="lease-keeper",
                                        daemon=True)
        self._keeper.start()

    def _stop_lease_keeper(self) -> None:
        self._keeper_stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=10)

    def _keep_message_leases(self) -> None:
        """The lease keeper's thread: every health interval, renew the messages in flight."""
        while not self._keeper_stop.wait(self.health_s):
            try:
                self._renew_in_flight()
            except Exception as error:  # noqa: BLE001 - the keeper must outlive any error
                if not is_outage(error):
                    log.exception("%s: renewing the leases of sends in flight failed",
                                  self.owner)

    def _renew_in_flight(self) -> int:
        """Extend the leases of the messages this worker is sending, or has sent and not yet
        recorded (in_flight keeps them until their outcome is written); returns how many."""
        ids = list(self.in_flight)  # a copy in one step: the loop adds and removes meanwhile
        if not ids:
            return 0
        stalled = time.monotonic() - self._loop_at
        if stalled > KEEPER_STALL_LEASES * self.lease_s:
            if not self._keeper_gave_up:
                self._keeper_gave_up = True
                log.error("%s: the loop has not come round for %.0f s; the leases of %d sends"
                          " in flight are left to run out", self.owner, stalled, len(ids))
            return 0
        self._keeper_gave_up = False
        with self.engine.begin() as conn:
            return hosts.keep_sending_leases(conn, self.owner, self.lease_s, ids)
