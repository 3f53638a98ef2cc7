"""The device host: supervisor, worker processes and per-device send loops over a Transport.

Owns sending queued messages (claims, delays, retries, leases, health). Must never decide what to
send, and only `device_host/transports/neonize*` may import neonize.
"""
