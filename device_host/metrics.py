"""The device host's metrics, counted by the worker processes (multiprocess mode: the supervisor
starts them with PROMETHEUS_MULTIPROC_DIR set and its /metrics adds their files up).

Counted where the work is recorded (after the batch's statement), never with a query of their
own; the gauges are set after each lease pass. Names: the README's "Metrics" table.
"""

from prometheus_client import Counter, Gauge, Histogram

CLAIMED = Counter("dripfleet_messages_claimed", "Messages claimed for sending")
SENT = Counter("dripfleet_messages_sent", "Messages WhatsApp accepted")
FAILED = Counter(
    "dripfleet_messages_failed",
    "Failed sends by outcome (transient: retried later, permanent: given up, requeue: the "
    "device failed, the message goes back to the queue) and failure class (device, recipient, "
    "content, unknown)",
    ["outcome", "failure_class"])
RECEIPTS = Counter("dripfleet_receipts", "Receipts recorded, by kind", ["kind"])
INBOUND = Counter("dripfleet_inbound_messages", "Incoming messages recorded")
SESSIONS = Gauge(
    "dripfleet_device_sessions", "Leased devices by session state", ["state"],
    multiprocess_mode="livesum")
LEASES = Gauge("dripfleet_device_leases", "Devices whose lease this host holds",
               multiprocess_mode="livesum")
CLAIM_SECONDS = Histogram(
    "dripfleet_claim_duration_seconds", "Time of one claim statement (all ready devices at once)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
SEND_SECONDS = Histogram(
    "dripfleet_send_duration_seconds",
    "Time one successful send took on the transport (media download included)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))


def failure_class(value: str | None) -> str:
    """A failure class label: one of the three classes, or unknown."""
    return value if value in ("device", "recipient", "content") else "unknown"
