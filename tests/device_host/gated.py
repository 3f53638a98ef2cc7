"""An in-memory phone network whose sends wait at a gate the test opens: WhatsApp replaced, like
the simulated network, but needing no database, so a send can finish while PostgreSQL is down,
and a test can hold a send in flight for as long as a race needs."""

import threading
import time
import uuid
from dataclasses import dataclass, field

from device_host.transports.base import (
    Connected,
    DeviceInfo,
    EventCallback,
    SendResult,
    TransientError,
    sending_message_id,
)


@dataclass
class Send:
    """One send as the network saw it."""

    message_id: int | None
    device_id: int
    started: float  # time.monotonic()
    finished: float | None = None


@dataclass
class GatedNetwork:
    """Every send of every session waits at `gate` (open unless a test closes it)."""

    gate: threading.Event = field(default_factory=threading.Event)
    sends: list[Send] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    entered: threading.Condition = field(default_factory=threading.Condition)
    # (device, message) of every send that started while another of its device was in flight
    overlaps: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gate.set()

    def inside(self, device_id: int) -> list[Send]:
        """Sends of device_id that have started and not finished."""
        with self.lock:
            return [s for s in self.sends if s.device_id == device_id and s.finished is None]

    def wait_inside(self, count: int, timeout: float = 30.0) -> None:
        """Block until count sends are waiting at the gate (or have started)."""
        with self.entered:
            if not self.entered.wait_for(
                lambda: sum(1 for s in self.sends if s.finished is None) >= count, timeout
            ):
                raise AssertionError(f"fewer than {count} sends started in {timeout}s")

    def send(self, device_id: int) -> SendResult:
        record = Send(sending_message_id.get(), device_id, time.monotonic())
        with self.lock:
            if any(s.device_id == device_id and s.finished is None for s in self.sends):
                self.overlaps.append((device_id, record.message_id or 0))
            self.sends.append(record)
        with self.entered:
            self.entered.notify_all()
        self.gate.wait()
        with self.lock:
            record.finished = time.monotonic()
        return SendResult("GATED" + uuid.uuid4().hex[:12])


class GatedSession:
    """One device's session on a GatedNetwork (implements base.Transport for text)."""

    def __init__(self, network: GatedNetwork, device: DeviceInfo) -> None:
        self.network = network
        self.device = device
        self.stopped = False

    def start(self, on_event: EventCallback) -> None:
        on_event(Connected(self.device.device_id))

    def send_text(self, to: str, text: str) -> SendResult:
        if self.stopped:
            raise TransientError("gated session is stopped")
        return self.network.send(self.device.device_id)

    def stop(self) -> None:
        self.stopped = True

    def logout(self) -> None:
        self.stopped = True


class GatedFactory:
    """Per worker: sessions on a shared GatedNetwork."""

    def __init__(self, network: GatedNetwork) -> None:
        self.network = network

    def open(self, device: DeviceInfo) -> GatedSession:
        return GatedSession(self.network, device)

    def close(self) -> None:
        pass
