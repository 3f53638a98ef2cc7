"""LISTEN/NOTIFY wake-ups: one thread holding one LISTEN connection, for any process that waits
on the database (the device host's workers and simulated network, the webhooks dispatcher)."""

import logging
import threading
from collections.abc import Callable

import psycopg

from dripfleet.database import libpq_url

log = logging.getLogger(__name__)



class Listener:
    """A thread holding one LISTEN connection; calls on_notify(channel, payload) per notification.

    It reconnects with backoff after errors, and calls on_notify("*", "*") after each (re)connect
    because notifications sent while disconnected are lost."""

    def __init__(self, database_url: str, on_notify: Callable[[str, str], None],
                 channels: tuple[str, ...], name: str = "listener") -> None:
        self.url = libpq_url(database_url)
        self.on_notify = on_notify
        self.channels = channels
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

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
                    for channel in self.channels:
                        conn.execute(f"LISTEN {channel}")
                    backoff = 0.5
                    self.on_notify("*", "*")
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            self.on_notify(notify.channel, notify.payload)
            except psycopg.Error as error:
                log.warning("listener: %s; reconnecting in %.1fs", error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
