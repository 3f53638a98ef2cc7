"""`GET /healthz` for the supervisor: a small stdlib HTTP server on a daemon thread."""

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class _DualStackServer(ThreadingHTTPServer):
    # IPv6 and IPv4 on one socket: Railway's private network is IPv6-only
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _bind(host: str, port: int, handler: type) -> ThreadingHTTPServer:
    if host == "::":
        try:
            return _DualStackServer((host, port), handler)
        except OSError:  # no IPv6 on this machine
            host = "0.0.0.0"
    return ThreadingHTTPServer((host, port), handler)


def serve_health(
    port: int, report: Callable[[], tuple[int, dict[str, Any]]], host: str = "::"
) -> ThreadingHTTPServer:
    """Serve report() as JSON at /healthz on port (0: any free port); returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path.split("?")[0] != "/healthz":
                self.send_error(404)
                return
            try:
                status, body = report()
            except Exception:  # noqa: BLE001 - health must answer, not crash
                # the text stays in the log: this endpoint is unauthenticated
                log.exception("healthz: the report failed")
                status, body = 503, {"status": "error"}
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("healthz: " + format, *args)

    server = _bind(host, port, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="healthz", daemon=True).start()
    return server
