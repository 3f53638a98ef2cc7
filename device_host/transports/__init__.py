"""WhatsApp transports behind one interface (`base.Transport`): simulated, and neonize (real).

`open_factory(settings, database_url)` picks the implementation named by TRANSPORT; only
`neonize*` modules here may import neonize.
"""

from device_host.transports.base import TransportFactory
from dripfleet.settings import Settings


def open_factory(settings: Settings, database_url: str) -> TransportFactory:
    """The transport factory for this process, as configured by TRANSPORT."""
    if settings.transport == "neonize":
        # deferred: neonize is heavy and only exists in the real transport's environment
        from device_host.transports.neonize import NeonizeFactory  # type: ignore[import-not-found]

        return NeonizeFactory(settings, database_url)
    from device_host.transports.simulated import SimulatedFactory

    return SimulatedFactory(settings, database_url)
