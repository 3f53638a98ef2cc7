"""Device choice with backpressure: preferred / pinned device if usable, else the least loaded.

DESIGN.md "Device choice": a message goes to the lead's preferred device, else the source's
(sequence's or campaign's) pinned device, when that device is usable (status 'online'); else to the
user's usable device with the fewest queued messages. No device gets more than the buffer size of
queued messages: what does not fit waits for a later tick.
"""

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("usable_device_loads")

NO_USABLE_DEVICE = "no usable device: none of the user's devices is online"
BUFFER_FULL = "every usable device holds the maximum of queued messages; the rest waits"


@dataclass(frozen=True)
class Choice:
    """Where one message goes: a device (pinned when chosen explicitly), or why it waits."""

    device_id: int | None
    pinned: bool = False
    reason: str | None = None


@dataclass
class DeviceChooser:
    """Assigns messages to devices of one batch, keeping every device within the buffer."""

    buffer_size: int
    # user id -> device id -> queued messages (existing + assigned in this batch)
    loads: dict[int, dict[int, int]] = field(default_factory=dict)
    _heaps: dict[int, list[tuple[int, int]]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for user_id, devices in self.loads.items():
            heap = [(load, device_id) for device_id, load in devices.items()]
            heapq.heapify(heap)
            self._heaps[user_id] = heap

    def choose(self, user_id: int, preferred: int | None, source_pinned: int | None) -> Choice:
        """The device for one message of user_id (and count it), or a Choice with a reason."""
        devices = self.loads.get(user_id)
        if not devices:
            return Choice(None, reason=NO_USABLE_DEVICE)
        for explicit in (preferred, source_pinned):
            if explicit is not None and explicit in devices:
                if devices[explicit] >= self.buffer_size:
                    return Choice(None, pinned=True, reason=BUFFER_FULL)
                self._take(user_id, explicit)
                return Choice(explicit, pinned=True)
        heap = self._heaps[user_id]
        while heap:
            load, device_id = heap[0]
            if load != devices[device_id]:  # stale: a pinned choice changed it
                heapq.heapreplace(heap, (devices[device_id], device_id))
                continue
            if load >= self.buffer_size:
                return Choice(None, reason=BUFFER_FULL)
            self._take(user_id, device_id)
            return Choice(device_id)
        return Choice(None, reason=BUFFER_FULL)

    def _take(self, user_id: int, device_id: int) -> None:
        devices = self.loads[user_id]
        devices[device_id] += 1
        heap = self._heaps[user_id]
        if heap and heap[0][1] == device_id:
            heapq.heapreplace(heap, (devices[device_id], device_id))
        # otherwise the heap entry is stale and refreshed when it reaches the top

    def free_capacity(self, user_id: int) -> int:
        """Messages the user's usable devices can still take."""
        return sum(max(self.buffer_size - n, 0) for n in self.loads.get(user_id, {}).values())


def load_chooser(conn: Connection, user_ids: Iterable[int], buffer_size: int) -> DeviceChooser:
    """A chooser over the users' usable devices and their current queued counts."""
    loads: dict[int, dict[int, int]] = {}
    rows = conn.execute(queries.text("usable_device_loads"), {"user_ids": sorted(set(user_ids))})
    for device_id, user_id, queued in rows:
        loads.setdefault(user_id, {})[device_id] = int(queued)
    return DeviceChooser(buffer_size, loads)
