"""Fair share of the fleet between device hosts, and the move budget that paces rebalancing.

Each live host (its `device_hosts` row heartbeated recently, or its leases unexpired) drives at
most ceil(startable devices / live hosts) devices; its workers split that share and take free
devices up to their part. A host whose workers hold more than the share plus a small slack gives
the surplus up (down to the share), gracefully, at most DEVICE_MOVES_PER_MINUTE ÷ (other live
hosts) a minute, so that a joining host receives at most DEVICE_MOVES_PER_MINUTE a minute (no
reconnect storm when a replica joins). Devices no live host drives (a dead host's expired leases,
a stopped host's released ones, new ones) are taken at once up to the share: they are down
already, and pacing them would only lengthen the outage.

The supervisor computes the share and refills the budget; its workers read the share and spend the
budget through shared memory (no statement per worker for it).
"""

import math
from dataclasses import dataclass
from multiprocessing.context import SpawnContext
from typing import Any

# a host counts as live while its heartbeat is younger than this many health intervals (a device
# lease), or while its workers hold unexpired leases (sql/queries/hosts.sql fair_share_counts)
LIVE_HEALTH_INTERVALS = 3.0


def host_share(startable: int, live_hosts: int) -> int:
    """How many devices one of live_hosts hosts should drive."""
    return math.ceil(startable / max(live_hosts, 1))


def share_slack(share: int) -> int:
    """How far above its share a host may stay without giving devices up: a device added or
    disabled must not move others back and forth."""
    return max(1, share // 50)


def worker_quotas(share: int, workers: int, per_worker: int) -> list[int]:
    """The host's share split over its workers, none above per_worker."""
    workers = max(workers, 1)
    return [min(per_worker, share // workers + (1 if i < share % workers else 0))
            for i in range(workers)]


def moves_per_second(moves_per_minute: int, live_hosts: int) -> float:
    """How fast one host may give devices up: the others split one joining host's budget."""
    return moves_per_minute / 60.0 / max(live_hosts - 1, 1)


@dataclass
class WorkerShare:
    """What the supervisor tells one worker: its quota, and the host's move budget (shared by
    every worker of the host). Process-shared values: the worker reads them on each lease pass."""

    quota: Any  # multiprocessing Value('i'): devices this worker takes free ones up to
    # Value('i'): above this the worker gives devices up, down to its quota; the quota itself
    # while the host holds more than its share plus slack, else no limit (the slack is the
    # host's, not each worker's, or it would add up over the workers)
    keep: Any
    budget: Any  # multiprocessing Value('d'): moves the host may make now, shared by its workers

    @classmethod
    def create(cls, context: SpawnContext, quota: int, keep: int, budget: Any) -> "WorkerShare":
        return cls(context.Value("i", quota), context.Value("i", keep), budget)

    def take_moves(self, wanted: int) -> int:
        """Spend up to wanted moves of the host's budget; returns how many were granted."""
        if wanted <= 0:
            return 0
        with self.budget.get_lock():
            granted = min(wanted, int(self.budget.value))
            self.budget.value -= granted
        return granted


def refill(budget: Any, per_second: float, seconds: float, health_s: float) -> None:
    """Add seconds' worth of moves to a host's budget; it holds at most one lease pass's worth
    (a pass runs every health interval), so an idle host cannot save up a storm."""
    cap = max(1.0, per_second * health_s)
    with budget.get_lock():
        budget.value = min(cap, budget.value + per_second * seconds)
