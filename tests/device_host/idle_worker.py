"""A Worker that is built but not run, for testing one part of it against the test database."""

from collections.abc import Iterator
from contextlib import contextmanager

from device_host.device_state import DeviceState
from device_host.transports.simulated import SimulatedFactory
from device_host.worker import Worker
from dripfleet.settings import Settings
from dripfleet.stores import hosts


@contextmanager
def idle_worker(settings: Settings, database_url: str, owner: str = "part/w0",
                max_devices: int = 10) -> Iterator[Worker]:
    """A worker whose loop never runs: the test calls its parts; its pools are shut at the end."""
    worker = Worker(settings, database_url, owner, max_devices, 2,
                    factory=SimulatedFactory(settings, database_url))
    try:
        yield worker
    finally:
        worker.control.shutdown(wait=True)
        worker.sender.shutdown(wait=True)
        worker.factory.close()
        worker.engine.dispose()


def hold(worker: Worker, device_id: int, **state: object) -> DeviceState:
    """Lease one device to the worker in the database and in memory, with no session started."""
    with worker.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE devices SET lease_owner = %(o)s, lease_until = now() + interval '1 minute'"
            " WHERE id = %(d)s", {"o": worker.owner, "d": device_id})
        row = next(r for r in hosts.renew_devices(conn, worker.owner, worker.lease_s)
                   if r["id"] == device_id)
    device = DeviceState(id=device_id, user_id=row["user_id"])
    device.update(row)
    for key, value in state.items():
        setattr(device, key, value)
    worker.devices[device_id] = device
    return device
