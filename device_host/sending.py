"""Sending: which devices may claim, the claims, the sends on sender threads, and their outcomes.

A mixin of Worker (device_host/worker.py): the state it reads and writes lives on the Worker, see
device_host/leases.py for why. Per device strictly one message is in flight; one statement claims
the next message of every ready device, one records every finished send.
"""

import logging
import queue
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from device_host import metrics, pacing
from device_host.device_state import DeviceState
from device_host.transports.base import (
    DeviceFatalError,
    PermanentError,
    RestrictedError,
    TransientError,
    Transport,
    sending_message_id,
)
from device_host.transports.media_fetch import DOWNLOAD_TIMEOUT_SECONDS, load_media
from dripfleet.database_outage import is_outage
from dripfleet.log_setup import bind_context, reset_context
from dripfleet.stores import sending as sending_store
from dripfleet.stores.sending import Outcome

# the worker's parts log under one name, as the single module did
log = logging.getLogger("device_host.worker")

# connect/read timeout of a media download
MEDIA_TIMEOUT_SECONDS = DOWNLOAD_TIMEOUT_SECONDS


def claimable(state: DeviceState, now: float, wall: datetime) -> bool:
    """Whether a device may claim now; quiet hours and caps push its next look (poll_at) on."""
    if not (state.has_work and state.in_flight is None and state.session_state == "connected"
            and state.session is not None
            and state.status == "online" and not state.releasing
            and now >= state.ready_at and now >= state.poll_at):
        return False
    if state.quiet_start is not None or state.hourly_cap or state.daily_cap:
        wait = max(
            pacing.quiet_wait_seconds(wall, state.quiet_start, state.quiet_end,
                                      state.timezone),
            pacing.cap_wait_seconds(state.sends, now, state.hourly_cap, state.daily_cap),
        )
        if wait > 0:
            state.poll_at = now + wait
            return False
    return True


def retry_backoff_seconds(base: float, attempts: int) -> float:
    """How long a transient failure waits before its next attempt: doubling from base."""
    return base * 2 ** max(attempts - 1, 0)


class Sending:
    """Claims, sends and outcomes of the leased devices' messages."""

    def _probe(self, device_ids: list[int]) -> None:
        """One statement: which devices have queued messages at all; only those are claimed."""
        if not device_ids:
            return
        with self.engine.begin() as conn:
            busy = sending_store.devices_with_queued(conn, device_ids)
        for device_id in device_ids:
            state = self.devices.get(device_id)
            if state is not None and device_id in busy and not state.has_work:
                state.has_work, state.poll_at = True, 0.0
            elif state is not None and device_id not in busy and state.in_flight is None:
                state.has_work = False

    def _claimable(self, state: DeviceState, now: float, wall: datetime) -> bool:
        # a method as well, so that a test's worker can watch the claims it tries
        return claimable(state, now, wall)

    def _claim_and_send(self) -> None:
        if self.stop_event.is_set():
            return
        room = self.pool_size - len(self.in_flight)
        if room <= 0:
            return
        now, wall = time.monotonic(), datetime.now(UTC)
        # longest ready first: with every send slot taken, devices later in the dict (those
        # taken over from another host) would otherwise wait behind the same first ones
        ready = [s.id for s in sorted(
            (s for s in self.devices.values() if self._claimable(s, now, wall)),
            key=lambda s: max(s.ready_at, s.poll_at))][:room]
        if not ready:
            return
        started = time.perf_counter()
        with self.engine.begin() as conn:
            rows = sending_store.claim_messages(conn, self.owner, ready, self.lease_s)
        metrics.CLAIM_SECONDS.observe(time.perf_counter() - started)
        metrics.CLAIMED.inc(sum(1 for row in rows if row["status"] == "sending"))
        claimed = set()
        for row in rows:
            claimed.add(row["device_id"])
            if row["status"] != "sending":
                continue  # stopped (cancelled or held): the device looks again at once
            state = self.devices[row["device_id"]]
            state.in_flight = row["id"]
            self.sending_device[row["id"]] = state
            future = self.sender.submit(self._send, state.session, row)
            self.in_flight[row["id"]] = future
            future.add_done_callback(self._sent)
        missed = [d for d in ready if d not in claimed]
        if missed:
            with self.engine.begin() as conn:
                misses = sending_store.claim_misses(conn, self.owner, missed)
            now = time.monotonic()
            for miss in misses:
                state = self.devices.get(miss["id"])
                if state is None:
                    continue
                if not miss["mine"] or miss["status"] != "online":
                    self._lease_due = True
                    continue
                device_wait = max(miss["device_wait_s"] or 0.0, 0.0)
                state.ready_at = now + device_wait
                if miss["message_wait_s"] is None:
                    state.has_work = False
                else:
                    # nothing due yet, or its row was locked by someone else: look again later
                    state.poll_at = now + max(miss["message_wait_s"], device_wait, 0.05)

    def _sent(self, future: Future) -> None:
        self.outcomes.put(future.result())
        self.wake.set()

    def _send(self, session: Transport | None, row: dict[str, Any]) -> tuple[Outcome, str | None]:
        """Send one message on a sender thread; never raises."""
        token = sending_message_id.set(row["id"])
        logged = bind_context(device_id=row["device_id"], message_id=row["id"])
        try:
            if session is None:
                raise TransientError("the device's session is not running")
            started = time.perf_counter()
            result = self._deliver(session, row)
            metrics.SEND_SECONDS.observe(time.perf_counter() - started)
            return Outcome(row["id"], "sent", provider_message_id=result.provider_message_id,
                           finished_at=time.monotonic()), None
        except RestrictedError as error:
            # not the message's fault: queued again, attempt refunded; the device waits
            return Outcome(row["id"], "requeue", error=str(error), restricted_until=error.until,
                           restriction_kind=error.kind), None
        except DeviceFatalError as error:
            return Outcome(row["id"], "requeue", error=str(error)), error.status
        except PermanentError as error:
            return Outcome(row["id"], "permanent", error=str(error),
                           finished_at=time.monotonic(),
                           failure_class=error.failure_class), None
        except TransientError as error:
            return Outcome(row["id"], "transient", error=str(error),
                           backoff_s=self._backoff(row["attempts"]),
                           finished_at=time.monotonic(),
                           failure_class=error.failure_class), None
        except Exception as error:  # noqa: BLE001 - an unknown failure is retried, not lost
            log.exception("%s: sending message %s failed", self.owner, row["id"])
            return Outcome(row["id"], "transient", error=f"unexpected error: {error}",
                           backoff_s=self._backoff(row["attempts"]),
                           finished_at=time.monotonic()), None
        finally:
            sending_message_id.reset(token)
            reset_context(logged)

    def _backoff(self, attempts: int) -> float:
        return retry_backoff_seconds(self.settings.retry_backoff_seconds, attempts)

    def _deliver(self, session: Transport, row: dict[str, Any]) -> Any:
        kind, to = row["message_type"], row["phone"]
        if kind == "text":
            return session.send_text(to, row["body"])
        data, filename, mimetype = self._media(row)
        caption = row["caption"] or (row["body"] or None)
        if kind == "image":
            return session.send_image(to, data, caption)
        if kind == "video":
            return session.send_video(to, data, caption)
        return session.send_document(to, data, row["filename"] or filename, caption, mimetype)

    def _media(self, row: dict[str, Any]) -> tuple[bytes, str, str | None]:
        """The message's media bytes: uploaded (media_id), or downloaded with a timeout and the
        size limit, and checked to be what the message says it is (an image is an image)."""
        media = load_media(self.engine, row, self.settings.max_media_bytes, MEDIA_TIMEOUT_SECONDS,
                           self.media_policy)
        return media.data, media.filename, media.mimetype

    def _record_outcomes(self) -> None:
        batch = self._unrecorded
        while True:
            try:
                batch.append(self.outcomes.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        # taken before the statement: wait_s counts from the statement's now(), which is later,
        # so this is when the device is ready to within the margin below
        now = time.monotonic() + 0.002
        try:
            with self.engine.begin() as conn:
                recorded = sending_store.record_outcomes(
                    conn, self.owner, [o for o, _ in batch],
                    self.settings.device_failure_pause_after,
                    self.settings.content_failure_pause_after,
                )
        except Exception as error:
            # the messages did leave (or fail): their outcomes are kept and written once the
            # database answers, so a sent message is never queued again for want of a record
            if not is_outage(error):
                log.exception("%s: recording %d outcomes failed; keeping them",
                              self.owner, len(batch))
            raise
        self._unrecorded = []
        for outcome, _fatal in batch:
            if outcome.kind == "sent":
                metrics.SENT.inc()
            else:
                kind = metrics.failure_class(outcome.failure_class)
                metrics.FAILED.labels(outcome.kind, kind).inc()
        for user_id, campaign_id in recorded.paused_campaigns:
            log.warning("%s: campaign %s (user %s) paused after content failures",
                        self.owner, campaign_id, user_id)
        for user_id, sequence_id in recorded.paused_sequences:
            log.warning("%s: sequence %s (user %s) paused after content failures",
                        self.owner, sequence_id, user_id)
        by_message = {row["id"]: row for row in recorded.messages}
        fatal: list[tuple[DeviceState, str, str]] = []
        failover: list[DeviceState] = []
        restricted: list[tuple[DeviceState, Outcome]] = []
        for outcome, fatal_status in batch:
            self.in_flight.pop(outcome.message_id, None)
            state = self.sending_device.pop(outcome.message_id, None)
            if state is None:
                continue
            state.in_flight = None
            state.has_work, state.poll_at = True, 0.0
            row = by_message.get(outcome.message_id)
            if row is not None and row["wait_s"] is not None:
                state.ready_at = now + max(row["wait_s"], 0.0)
            if row is not None and row["status"] == "sent":
                state.sends.append(now)
            if row is not None and row["device_status"] not in (None, "online"):
                state.status = row["device_status"]  # auto-paused after repeated failures
                self._stop_session(state)
                state.releasing = True
                failover.append(state)
            if fatal_status is not None:
                fatal.append((state, fatal_status, outcome.error or fatal_status))
            if outcome.restricted_until is not None:
                restricted.append((state, outcome))
        # the outcomes are safe; what follows is redone by the supervisor's sweep if it fails
        if restricted:
            self._restrict(restricted)  # device_host/guard.py
        for state in failover:
            with self.engine.begin() as conn:
                sending_store.failover_messages(conn, self.settings.queue_buffer_size, state.id)
        for state, status, reason in fatal:
            with self.engine.begin() as conn:
                self._device_fatal(conn, state, status, reason)

    def _hand_back(self, message_ids: list[int]) -> None:
        with self.engine.begin() as conn:
            sending_store.record_outcomes(
                conn, self.owner,
                [Outcome(mid, "requeue", error="the host stopped mid-send")
                 for mid in message_ids],
                self.settings.device_failure_pause_after,
            )
