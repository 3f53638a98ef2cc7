"""What every dripfleet process's /metrics shares: who may read it, the rendering, the queue
gauges and the database error counter. Each service defines its own metrics beside its code
(webapp/metrics.py, device_host/metrics.py, webhooks/metrics.py), so that a process exports only
what it counts.

The metric names are the README's table ("Metrics"); labels hold only fixed words (route
templates, statuses, failure classes), never a user's data or a secret. Increments happen where
the work happens, in memory or in a memory-mapped file (multiprocess mode): no SQL per message.
The queue gauges are the one exception: two index-only counts, cached QUEUE_CACHE_SECONDS.

Who may read: with METRICS_TOKEN set, a request carrying `Authorization: Bearer <token>`; without
it, only a request from this machine (loopback peer, and not relayed by a proxy).
"""

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from dripfleet.metrics_dir import ENV

log = logging.getLogger(__name__)
# the *_created samples double every counter's lines for a figure no dashboard here reads
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_LATEST
# the queue gauges cost two small queries; a scrape every few seconds reuses them this long
QUEUE_CACHE_SECONDS = 15.0
# the queue's open statuses: each has a partial index, so counting them never scans history
OPEN_STATUSES = ("queued", "held", "sending")

DATABASE_ERRORS = Counter(
    "dripfleet_database_errors", "Database outages met (each failed attempt)", ["process"])


def metrics_allowed(
    token: str | None, authorization: str | None, peer: str | None, relayed: bool
) -> bool:
    """May this request read /metrics? (token: METRICS_TOKEN; peer: the TCP peer's address;
    relayed: the request came through a proxy, i.e. it carries X-Forwarded-For)."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode())
    if relayed or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def refusal(token: str | None) -> tuple[int, str]:
    """(status, reason) of a refused /metrics request."""
    if token:
        return 401, "/metrics needs Authorization: Bearer <METRICS_TOKEN>"
    return 403, "/metrics answers only to this machine; set METRICS_TOKEN to read it remotely"


class QueueCollector(Collector):
    """dripfleet_queue_messages{status} and dripfleet_queue_oldest_queued_seconds, cached."""

    def __init__(self, engine: Engine, cache_seconds: float = QUEUE_CACHE_SECONDS) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any] | None:
        from dripfleet.stores import queue_metrics

        with self._lock:
            if time.monotonic() - self._at >= self.cache_seconds:
                try:
                    with self.engine.connect() as conn:
                        self._value = queue_metrics.queue_depth(conn)
                except Exception as error:  # noqa: BLE001 - a scrape must not fail for this
                    log.warning("metrics: the queue depth could not be read (%s)",
                                type(error).__name__)
                    DATABASE_ERRORS.labels("metrics").inc()
                    self._value = None
                self._at = time.monotonic()
            return self._value

    def collect(self) -> Iterator[GaugeMetricFamily]:
        value = self._read()
        if value is None:
            return
        depth = GaugeMetricFamily(
            "dripfleet_queue_messages", "Messages in the queue by open status (whole fleet)",
            labels=["status"])
        for status in OPEN_STATUSES:
            depth.add_metric([status], value["counts"].get(status, 0))
        yield depth
        yield GaugeMetricFamily(
            "dripfleet_queue_oldest_queued_seconds",
            "Age of the oldest queued message (0: none queued)", value=value["oldest_s"])


def render(directory: Path | str | None = None, extra: Iterable[Collector] = ()) -> bytes:
    """The exposition text: the files of a multiprocess directory (else this process's
    registry), then the extra collectors."""
    directory = directory if directory is not None else os.environ.get(ENV)
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(directory))
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    more = CollectorRegistry()
    for collector in extra:
        more.register(collector)
    return body + generate_latest(more)

