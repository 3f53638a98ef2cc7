"""LISTEN webhook_deliveries: wake the dispatcher when deliveries are written (0078's trigger)."""

import logging
import threading
from collections.abc import Callable

import psycopg

from dripfleet.database import libpq_url

log = logging.getLogger(__name__)

CHANNEL = "webhook_deliveries"


class Wakeup:
    """A thread holding one LISTEN connection; calls wake() per notification and after every
    (re)connect, since notifications sent while disconnected are lost."""

    def __init__(self, database_url: str, wake: Callable[[], None]) -> None:
        self.url = libpq_url(database_url)
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks-listen", daemon=True)

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (returns within about a second)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.5
                    self.wake()
                    while not self._stop.is_set():
                        if any(True for _ in conn.notifies(timeout=1.0)):
                            self.wake()
            except psycopg.Error as error:
                log.warning("webhooks listener: %s; reconnecting in %.1fs", error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
