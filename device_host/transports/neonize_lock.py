"""The process-wide readers/writer lock around every call into neonize's Go library.

The Go side keeps process-wide maps of clients without a lock of its own; concurrent connect,
send and stop calls from many threads crash the whole process (`fatal error: concurrent map
writes`, notes/neonize.md). Writers (a client's connect start-up, stop) run alone; readers
(sends, presence, is-on-WhatsApp, pairing codes, logout) run together. Writers are preferred so
a stream of sends cannot starve a stop. The write side may be released by another thread than the
one that took it: a connect start-up is ended by whichever comes first of its events or a timer.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadersWriterLock:
    """Many readers or one writer; waiting writers go before new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def acquire_read(self) -> None:
        """Wait until no writer holds or waits for the lock, then read."""
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        """End a read."""
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    def acquire_write(self) -> None:
        """Wait until nobody reads or writes, then write alone."""
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True

    def release_write(self) -> None:
        """End a write (from any thread)."""
        with self._cond:
            if not self._writer:
                raise RuntimeError("release_write without a writer")
            self._writer = False
            self._cond.notify_all()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock as a reader for the block."""
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock as the writer for the block."""
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()


class WriteHold:
    """A write hold that ends once, by whichever thread calls `release` first."""

    def __init__(self, lock: ReadersWriterLock) -> None:
        self._lock = lock
        self._guard = threading.Lock()
        lock.acquire_write()
        self._held = True

    def release(self) -> None:
        """Give the write lock back (later calls do nothing)."""
        with self._guard:
            if not self._held:
                return
            self._held = False
        self._lock.release_write()


# the one lock of this process: every neonize call in device_host goes through it
NEONIZE_LOCK = ReadersWriterLock()
