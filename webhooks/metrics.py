"""The webhooks dispatcher's metrics (one process: in memory), served on WEBHOOKS_PORT."""

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "dripfleet_webhook_deliveries",
    "Webhook delivery attempts by result (delivered; retry: failed, tried again later; failed: "
    "given up)", ["result"])
DELIVERY_SECONDS = Histogram(
    "dripfleet_webhook_delivery_duration_seconds", "Time of one webhook request",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0))
