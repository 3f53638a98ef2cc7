"""A webhook receiver for tests and benches: a real HTTP server on 127.0.0.1 that verifies every
Standard Webhooks signature and answers what the test tells it to."""

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the listen backlog: a bench opens many connections at once


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified_by: list[int] = field(default_factory=list)  # indexes of the secrets that verify


# (received, how many times this webhook-id came before) -> (status, headers, body)
Answer = Callable[[Received, int], tuple[int, dict[str, str], bytes]]


def ok(_received: Received, _seen: int) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, b"ok"


class Receiver:
    """Records every POST; `acked` counts 2xx answers per webhook-id."""

    def __init__(self, secrets: list[str], answer: Answer = ok) -> None:
        self.verifiers = [Webhook(s) for s in secrets]
        self.answer = answer
        self.requests: list[Received] = []
        self.seen: Counter[str] = Counter()
        self.acked: Counter[str] = Counter()
        self.bad_signatures: list[Received] = []
        self.truncated: list[Received] = []  # bodies cut short by a sender that died
        self.lock = threading.Lock()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver
            disable_nagle_algorithm = True  # headers and body leave at once (no delayed ACK)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                    body)
                if len(body) < length:
                    # the sender went away mid-request (a kill -9): nothing was delivered and
                    # nobody is left to answer; a real receiver drops it the same way
                    with receiver.lock:
                        receiver.truncated.append(received)
                    self.close_connection = True
                    return
                status, headers, answer = receiver._handle(received)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _handle(self, received: Received) -> tuple[int, dict[str, str], bytes]:
        for index, verifier in enumerate(self.verifiers):
            try:
                verifier.verify(received.body, received.headers)
            except WebhookVerificationError:
                continue
            received.verified_by.append(index)
        event_id = received.headers.get("webhook-id", "")
        with self.lock:
            seen = self.seen[event_id]
            self.seen[event_id] += 1
            self.requests.append(received)
            if not received.verified_by:
                self.bad_signatures.append(received)
        status, headers, body = self.answer(received, seen)
        if 200 <= status < 300:
            with self.lock:
                self.acked[event_id] += 1
        return status, headers, body

    def url(self, path: str = "/hook") -> str:
        """http://127.0.0.1:port/path"""
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        """Stop serving."""
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
