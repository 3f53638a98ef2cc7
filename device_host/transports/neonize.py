"""The name `transports.open_factory` imports for TRANSPORT=neonize: the real transport's factory.

Importing this module does not import neonize; `NeonizeFactory(...)` does (neonize_transport).
"""

from device_host.transports.neonize_transport import NeonizeFactory

__all__ = ["NeonizeFactory"]
