"""Inbound transport events: pairing codes, status changes, receipts, incoming messages and
opt-outs.

A mixin of Worker (device_host/worker.py): the state it reads and writes lives on the Worker, see
device_host/leases.py for why. Transport threads only enqueue; the loop drains the queue and
writes what each event means. An event the database could not take is kept, first in line.
Receipts come by the thousand: they are gathered while the queue drains and written together,
one statement a batch.
"""

import logging
import queue
import re
import threading
from datetime import UTC, datetime
from typing import Any

from device_host import metrics
from device_host.transports.base import (
    INBOUND_TYPES,
    Banned,
    Connected,
    Disconnected,
    Event,
    IncomingMessage,
    LoggedOut,
    Paired,
    PairingCode,
    QrCode,
    Receipt,
)
from dripfleet.database_outage import is_outage
from dripfleet.phones import is_e164
from dripfleet.stores import hosts
from dripfleet.stores import replies as replies_store
from dripfleet.stores import risk as risk_store
from dripfleet.stores import sending as sending_store
from dripfleet.stores.risk import Restriction

# the worker's parts log under one name, as the single module did
log = logging.getLogger("device_host.worker")
# a receipt is recorded at most this long after it arrives (plus one loop pass)
RECEIPT_WAKE_SECONDS = 0.25


def is_opt_out(text: str, keywords: tuple[str, ...]) -> bool:
    """Whether a message opts out: its first word is a keyword (upper case), in three words or
    fewer."""
    words = re.findall(r"[^\W\d_]+", text.upper())
    return bool(words) and words[0] in keywords and len(words) <= 3


class Inbound:
    """What the devices' sessions report, applied by the loop."""

    def _on_event(self, event: Event) -> None:
        # called on transport threads: only enqueue
        self.events.put(event)
        if isinstance(event, Receipt):
            # receipts come by the thousand: one wake-up per RECEIPT_WAKE_SECONDS serves them
            # all, instead of a loop pass (and its claims) per receipt
            with self._notify_lock:
                if self._receipt_timer is not None:
                    return
                self._receipt_timer = threading.Timer(RECEIPT_WAKE_SECONDS,
                                                      self._wake_for_receipts)
                self._receipt_timer.daemon = True
                self._receipt_timer.start()
            return
        self.wake.set()

    def _wake_for_receipts(self) -> None:
        with self._notify_lock:
            self._receipt_timer = None
        self.wake.set()

    def _drain_events(self) -> None:
        while True:
            if self._event_backlog:
                item = self._event_backlog.popleft()
            else:
                try:
                    item = self.events.get_nowait()
                except queue.Empty:
                    break
            if isinstance(item, Receipt):
                self._receipts.append(item)
                continue
            if isinstance(item, IncomingMessage) and is_e164(item.from_phone):
                # stored with the pass's others, one statement (an opt-out also acts below);
                # only numbers a lead may have (leads.phone's form)
                self._inbound.append(item)
            try:
                self._handle(item)
            except Exception as error:
                if is_outage(error):
                    # kept, first in line: a pairing or an opt-out is not lost with the database
                    self._event_backlog.appendleft(item)
                    raise
                # one bad event must not stop every device
                log.exception("%s: handling %r failed", self.owner, item)

    def _record_inbound(self) -> None:
        """Store the pass's incoming messages in one statement and apply the sequences'
        on_reply rules to their leads in the same transaction; kept on an outage."""
        if not self._inbound:
            return
        batch, self._inbound = self._inbound, []
        now = datetime.now(UTC)
        rows = [{"device_id": m.device_id, "phone": m.from_phone,
                 "message_type": m.message_type if m.message_type in INBOUND_TYPES else "other",
                 "text": m.text, "provider_message_id": m.provider_message_id,
                 "quoted_provider_id": m.quoted_provider_id, "received_at": m.received_at or now}
                for m in batch]
        try:
            with self.engine.begin() as conn:
                applied = replies_store.record_incoming(conn, rows)["applied"]
            metrics.INBOUND.inc(len(rows))
            if applied["replied"] or applied["paused"]:
                log.info("%s: replies stopped %d and paused %d sequence contacts (%d messages "
                         "cancelled, %d held)", self.owner, applied["replied"], applied["paused"],
                         applied["cancelled"], applied["held"])
        except Exception as error:
            if is_outage(error):
                self._inbound = batch + self._inbound
                raise
            log.exception("%s: storing %d incoming messages failed", self.owner, len(rows))

    def _record_receipts(self) -> None:
        """Write the gathered receipts in one statement; kept for the next pass on an outage.

        Runs after the outcomes are written: a receipt names a message by the provider id its
        outcome records. A device whose send is still in flight keeps its receipts for a later
        pass, since one may be for that send (WhatsApp can report before the send returns)."""
        ready, waiting = [], []
        for receipt in self._receipts:
            state = self.devices.get(receipt.device_id)
            (waiting if state is not None and state.in_flight is not None else ready).append(
                receipt)
        self._receipts = waiting
        if not ready:
            return
        rows = [(r.device_id, provider_id, r.kind, r.at)
                for r in ready for provider_id in r.provider_message_ids]
        try:
            with self.engine.begin() as conn:
                sending_store.record_receipts(conn, rows)
            for row in rows:
                metrics.RECEIPTS.labels(row[2]).inc()
        except Exception as error:
            if is_outage(error):
                self._receipts = ready + self._receipts
                raise
            # receipts are informative: a batch the database refuses is dropped, not retried
            log.exception("%s: recording %d receipts failed", self.owner, len(rows))

    def _handle(self, item: Any) -> None:
        if isinstance(item, tuple):
            self._session_started(*item)
            return
        self._transport_event(item)

    def _transport_event(self, item: Event) -> None:
        state = self.devices.get(item.device_id)
        if state is None:
            return
        if isinstance(item, IncomingMessage) and not is_opt_out(item.text, self._keywords):
            return  # nothing to write (yet): replies other than opt-outs are not stored
        with self.engine.begin() as conn:
            if isinstance(item, QrCode):
                hosts.device_pairing_qr(conn, self.owner, state.id, item.payload, item.expires_at)
            elif isinstance(item, PairingCode):
                hosts.device_pairing_code(conn, self.owner, state.id, item.code, item.expires_at)
            elif isinstance(item, Paired):
                if hosts.device_paired(conn, self.owner, state.id, item.jid, item.phone):
                    state.status, state.jid, state.phone = "online", item.jid, item.phone
                    state.pairing_mode = state.pairing_phone = None
                    state.pairing_deadline = None
            elif isinstance(item, Connected):
                state.offline_retries = 0
                if state.session is not None or state.session_state == "starting":
                    if state.status != "pairing":
                        hosts.device_connected(conn, self.owner, state.id)
                        state.status = "online"
                    state.session_state = "connected"
                    state.poll_at = 0.0
            elif isinstance(item, Disconnected):
                if state.session_state == "connected":
                    state.session_state = "disconnected"
                    hosts.set_device_status(conn, self.owner, state.id, "offline", item.reason)
                    state.status = "offline"
            elif isinstance(item, LoggedOut | Banned):
                status = "banned" if isinstance(item, Banned) else "logged_out"
                until = item.until if isinstance(item, Banned) else None
                first = not (state.status == status and state.releasing)
                self._device_fatal(conn, state, status, item.reason or status, until)
                if until is not None and first:
                    # a temporary ban: a restriction of the ban-risk guard, lifted at its end
                    risk_store.restrict_devices(conn, self.owner, [Restriction(
                        state.id, until, "temporary_ban", item.reason or "temporary ban")])
            elif isinstance(item, IncomingMessage) and is_opt_out(item.text, self._keywords):
                counts = sending_store.opt_out_lead(conn, state.user_id, item.from_phone)
                log.info("%s: %s opted out (%s)", self.owner, item.from_phone, counts)
