"""The real transport minus the dial: for driving the real worker with real neonize events."""

from device_host.transports.neonize_transport import NeonizeFactory, NeonizeTransport


class UndialledTransport(NeonizeTransport):
    """The real transport minus the dial."""

    def start(self, on_event) -> None:
        self._on_event = on_event
        self.client = self._new_client()

    def send_image(self, to: str, data: bytes, caption: str | None = None):
        """Record the bytes that reached the transport, then send for real."""
        self.factory.images.append(data)
        return super().send_image(to, data, caption)


class UndialledFactory(NeonizeFactory):
    """Makes undialled sessions and keeps them by device id; records what reaches send_image."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.by_device: dict[int, UndialledTransport] = {}
        self.images: list[bytes] = []

    def open(self, device) -> UndialledTransport:
        session = UndialledTransport(self, device)
        self.by_device[device.device_id] = session
        return session
