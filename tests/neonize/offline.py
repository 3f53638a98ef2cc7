"""Helpers that keep the real transport's tests away from WhatsApp."""

import socket


def closed_port() -> int:
    """A local TCP port nothing listens on (a proxy there refuses every dial)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
