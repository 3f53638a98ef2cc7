"""The dispatcher loop: claim due deliveries, send them concurrently, record outcomes in bulk.

The main thread does all database work; sends run on an asyncio loop in a second thread. Claims
stop when WEBHOOK_CONCURRENCY sends are in flight (per endpoint: WEBHOOK_PER_ENDPOINT), and the
finished sends are recorded together, one statement per pass. The loop sleeps until a
notification (new deliveries), a finished send, the next delivery's due time or the safety poll.

PostgreSQL outages are ridden through: finished sends' outcomes wait in memory and are written
when the server answers again; nothing is claimed meanwhile. An outcome never written (a crash,
kill -9) leaves its delivery due again at the end of its lease: it is sent again with the same
webhook-id. SIGTERM stops claiming, lets in-flight sends finish, records them and exits.
"""

import asyncio
import logging
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from device_host.health_http import serve_health
from dripfleet import metrics
from dripfleet.database import get_engine
from dripfleet.database_outage import Backoff, is_outage
from dripfleet.listener import Listener
from dripfleet.public_urls import UrlPolicy
from dripfleet.settings import Settings
from dripfleet.stores import webhook_dispatch as store
from dripfleet.stores.webhook_dispatch import Claimed, Outcome
from webhooks import metrics as webhook_metrics
from webhooks.retry import decide
from webhooks.sending import Attempt, Sender, clean_text

log = logging.getLogger(__name__)

BATCH = 200  # most deliveries one claim takes
SCAN = 1000  # due rows one claim looks at (fairness between endpoints holds within them)
PARK_SECONDS = 60.0  # a disabled endpoint's deliveries are looked at again this much later
STOP_SENDS_SECONDS = 20.0  # SIGTERM: longest wait for in-flight sends (each ends within 15 s)
STOP_RECORD_SECONDS = 15.0  # SIGTERM: longest wait for the database to record them
# a statement that lost a race (deadlock with another dispatcher, a delivery deleted between
# check and insert) is simply run again
_RETRY_SQLSTATES = ("40P01", "40001", "23503")

T = TypeVar("T")


class Dispatcher:
    """One dispatcher process's state: what is in flight, what is finished but not recorded."""

    def __init__(self, settings: Settings, database_url: str,
                 policy: UrlPolicy | None = None) -> None:
        self.settings = settings
        self.engine: Engine = get_engine(database_url, pool_size=2)
        self.policy = policy or UrlPolicy(allow_private=settings.allow_private_urls)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.in_flight: dict[int, Claimed] = {}
        self.busy: Counter[int] = Counter()
        self.finished: queue.SimpleQueue[tuple[Claimed, Attempt, float]] = queue.SimpleQueue()
        self.unrecorded: list[Outcome] = []
        self.backoff = Backoff(first=0.5, most=5.0)
        self.database_down_until = 0.0
        self.counts: Counter[str] = Counter()
        # 0078's trigger notifies when deliveries are written (a reconnect wakes it too: what was
        # notified meanwhile is lost)
        self.wakeup = Listener(database_url, lambda _channel, _payload: self.wake.set(),
                               ("webhook_deliveries",), name="webhooks-listen")
        self.loop = asyncio.new_event_loop()
        self.sender = Sender(self.policy, settings.webhook_per_endpoint)
        self._loop_thread = threading.Thread(
            target=self.loop.run_forever, name="webhooks-send", daemon=True)

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM / SIGINT; returns the exit status."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        # httpx logs every request at INFO: the attempts log is in the database
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
        server = self._serve_http()
        self._loop_thread.start()
        self.wakeup.start()
        log.info("webhooks dispatcher started (concurrency %d, per endpoint %d)",
                 self.settings.webhook_concurrency, self.settings.webhook_per_endpoint)
        try:
            while not self.stopping.is_set():
                timeout = self.step()
                if timeout > 0 and not self.stopping.is_set():
                    self.wake.wait(timeout)
                    self.wake.clear()
            return self._shut_down()
        finally:
            if server is not None:
                server.shutdown()
            self.wakeup.stop()
            asyncio.run_coroutine_threadsafe(self.sender.close(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._loop_thread.join(5)

    def _serve_http(self) -> Any:
        """/healthz and /metrics on WEBHOOKS_PORT; a port in use costs the metrics, not the
        deliveries (the dispatcher still runs, and says so once)."""
        try:
            server = serve_health(
                self.settings.webhooks_port, self.health_report,
                metrics_token=self.settings.metrics_token, metrics_body=metrics.render)
        except OSError as error:
            log.warning("webhooks: no /healthz and /metrics: port %d: %s",
                        self.settings.webhooks_port, error.strerror or error)
            return None
        log.info("webhooks: /healthz and /metrics on port %d", server.server_address[1])
        return server

    def health_report(self) -> tuple[int, dict[str, Any]]:
        """/healthz: 200 while the database answers (as far as the last step knew), else 503."""
        down = time.monotonic() < self.database_down_until or self.backoff.failures > 0
        body = {"status": "degraded" if down else "ok",
                "database": "down" if down else "up", "in_flight": len(self.in_flight),
                "unrecorded": len(self.unrecorded), "counts": dict(self.counts)}
        return (503 if down else 200), body

    def request_stop(self, *_: Any) -> None:
        """Stop claiming; in-flight sends finish and are recorded (signal handler)."""
        self.stopping.set()
        self.wake.set()

    def step(self) -> float:
        """Record what finished, claim what fits; returns how long to sleep (0: go on at once)."""
        self._collect()
        if self.unrecorded and not self._record():
            return self._outage_wait()
        room = self.settings.webhook_concurrency - len(self.in_flight)
        if room <= 0:
            return self.settings.webhook_poll_seconds  # a finished send wakes us
        wanted = min(room, BATCH)
        ok, claimed = self._database("claim", lambda conn: store.claim(
            conn, wanted, self.settings.webhook_per_endpoint, dict(self.busy),
            self.settings.webhook_lease_seconds, PARK_SECONDS, SCAN))
        if not ok:
            return self._outage_wait()
        for delivery in claimed:
            self._submit(delivery)
        if len(claimed) == wanted:
            return 0.0
        return self._idle_wait()

    def _idle_wait(self) -> float:
        """Until the next pending delivery is due, at most the safety poll."""
        poll = self.settings.webhook_poll_seconds
        ok, due = self._database("next due", store.next_due_in)
        if not ok:
            return self._outage_wait()
        if due is None:
            return poll
        if due <= 0:
            # due but not claimable now: its endpoint is at its limit here (a finished send wakes
            # us), or another dispatcher is claiming it this instant
            return poll if self.in_flight else min(poll, 0.5)
        return min(poll, max(due, 0.01))

    def _outage_wait(self) -> float:
        return max(0.01, self.database_down_until - time.monotonic())

    # ---- sends -----------------------------------------------------------------------------

    def _submit(self, delivery: Claimed) -> None:
        self.in_flight[delivery.id] = delivery
        self.busy[delivery.endpoint_id] += 1
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(self.sender.send(delivery), self.loop)
        future.add_done_callback(lambda f: self._sent(delivery, f, started))

    def _sent(self, delivery: Claimed, future: Future, started: float) -> None:
        try:
            attempt = future.result()
        except Exception:  # a bug in sending: the attempt fails, the loop goes on
            log.exception("sending delivery %d failed", delivery.id)
            attempt = Attempt(None, int((time.monotonic() - started) * 1000), None,
                              "internal error while sending")
        self.finished.put((delivery, attempt, started))
        self.wake.set()

    def _collect(self) -> None:
        first = self.settings.webhook_retry_first_seconds
        while True:
            try:
                delivery, attempt, started = self.finished.get_nowait()
            except queue.Empty:
                return
            del self.in_flight[delivery.id]
            self.busy[delivery.endpoint_id] -= 1
            if self.busy[delivery.endpoint_id] <= 0:
                del self.busy[delivery.endpoint_id]
            age = delivery.age_seconds + (time.monotonic() - started)
            outcome, retry_in, error = decide(
                attempt.status_code, attempt.error, delivery.attempt, age, first)
            self.counts[outcome] += 1
            webhook_metrics.DELIVERIES.labels(outcome).inc()
            webhook_metrics.DELIVERY_SECONDS.observe(attempt.latency_ms / 1000)
            self.unrecorded.append(Outcome(
                delivery=delivery, outcome=outcome, retry_in=retry_in,
                status_code=attempt.status_code, latency_ms=attempt.latency_ms,
                excerpt=attempt.excerpt, error=clean_text(error) if error else None,
                started=started))

    # ---- the database ----------------------------------------------------------------------

    def _record(self) -> bool:
        batch = self.unrecorded
        ok, result = self._database(
            "record", lambda conn: store.record(conn, batch, time.monotonic()))
        if not ok:
            return False
        self.unrecorded = self.unrecorded[len(batch):]
        if result["endpoints_disabled"]:
            log.warning("webhooks: %d endpoint(s) disabled", result["endpoints_disabled"])
        return True

    def _database(self, what: str, action: Callable[[Any], T]) -> tuple[bool, T | None]:
        """Run action in one transaction: (True, its result), or (False, None) when the database
        is away, after which no database step runs until the backoff is over."""
        if time.monotonic() < self.database_down_until:
            return False, None
        try:
            with self.engine.begin() as conn:
                result = action(conn)
        except sa_exc.DBAPIError as error:
            state = getattr(error.orig, "sqlstate", None)
            if state in _RETRY_SQLSTATES:
                log.info("webhooks %s: %s; trying again", what, state)
                self.database_down_until = time.monotonic() + 0.05
                return False, None
            if not is_outage(error):
                raise
            self._down(what, error)
            return False, None
        except Exception as error:
            if not is_outage(error):
                raise
            self._down(what, error)
            return False, None
        if self.backoff.reset():
            log.info("webhooks: the database answers again")
            self.wake.set()
        return True, result

    def _down(self, what: str, error: BaseException) -> None:
        delay = self.backoff.next_delay()
        metrics.DATABASE_ERRORS.labels("webhooks").inc()
        self.database_down_until = time.monotonic() + delay
        log.warning("webhooks %s: database unavailable (%s); retrying in %.1fs",
                    what, type(error).__name__, delay)

    # ---- stopping --------------------------------------------------------------------------

    def _shut_down(self) -> int:
        log.info("webhooks dispatcher stopping: %d send(s) in flight", len(self.in_flight))
        deadline = time.monotonic() + STOP_SENDS_SECONDS
        while self.in_flight and time.monotonic() < deadline:
            self._collect()
            if self.in_flight:
                self.wake.wait(0.1)
                self.wake.clear()
        self._collect()
        deadline = time.monotonic() + STOP_RECORD_SECONDS
        while self.unrecorded and time.monotonic() < deadline:
            if not self._record():
                time.sleep(min(0.5, max(0.01, self.database_down_until - time.monotonic())))
        if self.unrecorded or self.in_flight:
            log.warning("webhooks dispatcher stopped with %d outcome(s) not recorded: those"
                        " deliveries are sent again when their lease ends",
                        len(self.unrecorded) + len(self.in_flight))
        log.info("webhooks dispatcher stopped: %s", dict(self.counts))
        return 0


def run_dispatcher(settings: Settings, database_url: str) -> int:
    """The `dripfleet webhooks` process; returns the exit status."""
    return Dispatcher(settings, database_url).run()
