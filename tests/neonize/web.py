"""A local web server standing in for media URLs (slow, too big, an HTML page, 404, fine)."""

import time
from http.server import BaseHTTPRequestHandler

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"
LIMIT = 1000


class Web(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Web.hits.append(self.path)
        if self.path == "/slow.png":
            time.sleep(2)
        body, kind = {"/big.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000, "image/png"),
                      "/login.png": (HTML, "image/png"),
                      "/missing.png": (b"not found", "text/plain")}.get(
            self.path, (PNG, "image/png"))
        self.send_response(404 if self.path == "/missing.png" else 200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass
