"""`GET /healthz` and `GET /metrics` for the supervisor (and the webhooks dispatcher): a small
stdlib HTTP server on a daemon thread."""

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
    port: int, report: Callable[[], tuple[int, dict[str, Any]]], host: str = "::",
    metrics_token: str | None = None, metrics_body: Callable[[], bytes] | None = None,
) -> ThreadingHTTPServer:
    """Serve report() as JSON at /healthz on port (0: any free port), and metrics_body() at
    /metrics to whom dripfleet.metrics.metrics_allowed lets in; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.split("?")[0]
            if path == "/metrics" and metrics_body is not None:
                self._metrics()
                return
            if path != "/healthz":
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

        def _metrics(self) -> None:
            from dripfleet import metrics

            relayed = "X-Forwarded-For" in self.headers or "Forwarded" in self.headers
            if not metrics.metrics_allowed(metrics_token, self.headers.get("Authorization"),
                                           self.client_address[0], relayed):
                status, reason = metrics.refusal(metrics_token)
                self._answer(status, "application/json",
                             json.dumps({"error": {"message": reason}}).encode())
                return
            try:
                self._answer(200, metrics.CONTENT_TYPE, metrics_body())  # type: ignore[misc]
            except Exception:  # noqa: BLE001 - answer, and keep the text in the log
                log.exception("metrics: rendering failed")
                self._answer(500, "text/plain", b"metrics failed\n")

        def _answer(self, status: int, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("healthz: " + format, *args)

    server = _bind(host, port, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="healthz", daemon=True).start()
    return server
