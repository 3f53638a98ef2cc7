"""A real http.server on 127.0.0.1 in a thread, recording every request it receives.

Outbound-URL tests use it twice: as the internal service that must see no request, and (let
through by a test rule) as the "public" host whose redirects are then checked.
"""

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200

# path -> (status, headers, body); None: 200 with a small PNG
Route = Callable[[str], tuple[int, dict[str, str], bytes] | None]


class LocalServer:
    """Serves route(path) until closed; hits lists (path, Host header) of every request."""

    def __init__(self, route: Route | None = None, certfile: str | None = None) -> None:
        self.hits: list[tuple[str, str | None]] = []
        # a handler told to hang waits on this; close() sets it so the thread can finish
        self.release = threading.Event()
        self.route = route or (lambda _path: None)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits.append((self.path, self.headers.get("Host")))
                if self.path.startswith("/hang"):
                    server.release.wait(30)
                    return
                if self.path.startswith("/trickle"):
                    # a byte every 0.1 s for up to 5 s: never slow enough for a read timeout
                    self.send_response(200)
                    self.send_header("Content-Length", "50")
                    self.end_headers()
                    for _ in range(50):
                        if server.release.wait(0.1):
                            return
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    return
                status, headers, body = server.route(self.path) or (
                    200, {"Content-Type": "image/png"}, PNG)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """http://127.0.0.1:port"""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop serving and release hanging handlers."""
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
