"""Many threads constructing, connecting (offline), sending to and stopping neonize clients.

Run by tests/neonize/test_concurrency.py in a subprocess (a Go fatal error kills the whole
process, so it must not be pytest's), and by docs/experiments/neonize_concurrency.md with
`--no-lock` to reproduce the crash the readers/writer lock prevents. Prints `SURVIVED ...` last.

    .venv-neonize/bin/python tests/neonize/stress_clients.py --threads 120 --rounds 3 [--no-lock]
"""

import argparse
import os
import tempfile
import threading
import time
from contextlib import nullcontext
from dataclasses import replace

from device_host.transports import neonize_lock, neonize_transport
from device_host.transports.base import DeviceInfo, TransportError
from device_host.transports.neonize_transport import NeonizeFactory
from dripfleet.settings import Settings


class NoLock:
    """Stands in for the readers/writer lock in the lock-less experiment."""

    def reading(self) -> nullcontext:
        return nullcontext()

    def writing(self) -> nullcontext:
        return nullcontext()

    def acquire_write(self) -> None:
        pass

    def release_write(self) -> None:
        pass


def one_client(n: int, folder: str, settings: Settings, outcomes: list[str],
               postgres: str | None = None) -> None:
    """Construct, connect offline, send while connecting, and stop one device's client."""
    factory = NeonizeFactory(settings, postgres or "postgresql://unused@127.0.0.1/unused",
                             store=None if postgres else os.path.join(folder, f"s{n}.db"))
    session = factory.open(DeviceInfo(device_id=n, user_id=1, name=f"d{n}"))
    session.client = session._new_client()
    connect = threading.Thread(target=session._connect_once, args=(session.client,))
    connect.start()
    try:
        session.send_text("+60123456789", f"hello {n}")
        outcomes.append("sent")
    except TransportError as error:
        outcomes.append(type(error).__name__)
    connect.join(60)
    session.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--proxy", help="a closed socks5:// address (default: dial directly)")
    parser.add_argument("--postgres", help="a database URL for PostgreSQL session stores"
                        " (default: one SQLite store per client); needs max_connections > threads")
    parser.add_argument("--no-lock", action="store_true")
    args = parser.parse_args()
    if args.no_lock:
        neonize_transport.NEONIZE_LOCK = NoLock()  # type: ignore[assignment]
        neonize_lock.NEONIZE_LOCK = NoLock()  # type: ignore[assignment]
    settings = replace(Settings(), whatsapp_proxy=args.proxy, typing_seconds_per_char=0.0,
                       check_on_whatsapp=False)
    folder = tempfile.mkdtemp(prefix="nz-stress-")
    started = time.monotonic()
    for round_ in range(args.rounds):
        outcomes: list[str] = []
        threads = [threading.Thread(target=one_client,
                                    args=(n, folder, settings, outcomes, args.postgres))
                   for n in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        print(f"round {round_ + 1}: {len(outcomes)} sends answered "
              f"({sorted(set(outcomes))})", flush=True)
        assert len(outcomes) == args.threads, outcomes
    print(f"SURVIVED {args.rounds} rounds x {args.threads} threads "
          f"in {time.monotonic() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
