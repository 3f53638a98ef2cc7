"""Acceptance 3 at fetch time: the device host downloads media from public addresses only.

A real http.server on 127.0.0.1 plays an internal service; every media URL that points at a
private or local address (literally, or through a public-looking name) fails its message with a
permanent 'content' error and the server sees no request. ALLOW_PRIVATE_URLS=true reaches it.
"""

import socket
import time
from collections.abc import Iterator

import pytest
import urllib3.util.connection

from device_host.transports.base import ContentError, TransientError
from device_host.transports.media_fetch import load_media
from dripfleet import public_urls
from tests.local_http import PNG, LocalServer

LIMIT = 10_000


def _row(url: str, kind: str = "image") -> dict:
    return {"user_id": 1, "message_type": kind, "media_id": None, "media_url": url}


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """The internal service (/missing: 404, /down: 503, /notes.txt: a text file)."""
    def route(path: str):
        if path == "/missing":
            return 404, {}, b"not found"
        if path == "/down":
            return 503, {}, b"try later"
        if path == "/notes.txt":
            return 200, {"Content-Type": "text/plain"}, b"plain text notes"
        return None

    made = LocalServer(route)
    yield made
    made.close()


@pytest.fixture
def dials(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Public-only downloads; a public-looking name resolving to 127.0.0.1; every connection
    the fetch opens recorded (the 10.x and metadata addresses have no server to ask)."""
    monkeypatch.delenv("ALLOW_PRIVATE_URLS", raising=False)
    table = {"media.example.test": ["127.0.0.1"]}

    def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    monkeypatch.setattr(public_urls, "resolve_host", resolve)
    opened: list[tuple] = []
    real = urllib3.util.connection.create_connection

    def recording(address, *args, **kw):
        opened.append(address)
        return real(address, *args, **kw)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    return opened


ACCEPTANCE_URLS = [
    ("http://127.0.0.1:{port}/photo.png", "127.0.0.1 is not a public address"),
    ("http://localhost:{port}/photo.png", "localhost is a local name"),
    ("http://[::1]:{port}/photo.png", "::1 is not a public address"),
    ("http://10.0.0.1/photo.png", "10.0.0.1 is not a public address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public address"),
    ("http://media.example.test:{port}/photo.png",
     "media.example.test does not resolve to a public address"),
]


@pytest.mark.parametrize("url, words", ACCEPTANCE_URLS)
def test_private_media_urls_fail_permanently_with_no_request(
        server: LocalServer, dials: list, url: str, words: str) -> None:
    url = url.format(port=server.port)
    with pytest.raises(ContentError) as refused:
        load_media(None, _row(url), LIMIT)
    assert refused.value.failure_class == "content"
    assert str(refused.value) == f"media URL refused: {words}: {url}"
    assert server.hits == [] and dials == []


def test_a_redirect_from_a_public_host_to_loopback_fails_with_no_request(dials: list) -> None:
    internal = LocalServer()
    hop = LocalServer(lambda path: (302, {"Location": f"{internal.url}/secret"}, b""))
    try:
        # the first hop's exact address and port count as public (a test rule); the redirect
        # target, another port of 127.0.0.1, does not
        policy = public_urls.UrlPolicy(treat_as_public=frozenset({("127.0.0.1", hop.port)}))
        url = f"http://media.example.test:{hop.port}/photo.png"
        with pytest.raises(ContentError) as refused:
            load_media(None, _row(url), LIMIT, policy=policy)
        assert str(refused.value) == (
            f"media URL refused: after a redirect, 127.0.0.1 is not a public address: {url}")
        assert len(hop.hits) == 1 and internal.hits == []
    finally:
        hop.close()
        internal.close()


def test_with_allow_private_urls_the_local_server_is_reached(
        server: LocalServer, dials: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    media = load_media(None, _row(f"http://media.example.test:{server.port}/photo.png"), LIMIT)
    assert media.data == PNG and media.mimetype == "image/png"
    assert server.hits == [("/photo.png", f"media.example.test:{server.port}")]
    assert dials and all(address[0] == "127.0.0.1" for address in dials)


def test_media_failures_are_content_failures_transient_or_not(
        server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    with pytest.raises(ContentError, match="media URL answered 404"):
        load_media(None, _row(f"{server.url}/missing"), LIMIT)
    with pytest.raises(TransientError) as down:
        load_media(None, _row(f"{server.url}/down"), LIMIT)
    assert down.value.failure_class == "content" and "answered 503" in str(down.value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/photo.png"
    with pytest.raises(TransientError) as unreachable:
        load_media(None, _row(url), LIMIT, timeout=0.5)
    assert unreachable.value.failure_class == "content"
    assert str(unreachable.value) == f"media URL could not be downloaded: {url}"
    with pytest.raises(ContentError, match="too large"):
        load_media(None, _row(f"{server.url}/photo.png"), 100)
    with pytest.raises(ContentError, match="is text/plain, not an image"):
        load_media(None, _row(f"{server.url}/notes.txt"), LIMIT)
    # a document may be any file
    document = load_media(None, _row(f"{server.url}/notes.txt", "document"), LIMIT)
    assert document.mimetype == "text/plain" and document.filename == "notes.txt"


def _queue_image(fleet, user: int, device: int, url: str) -> int:
    return fleet.sql(
        "INSERT INTO message_queue (user_id, device_id, phone, message_type, media_url, source,"
        " dedupe_key, max_attempts) VALUES (:u, :d, '+60123450000', 'image', :url, 'api', :k, 1)"
        " RETURNING id", u=user, d=device, url=url, k=f"api:{time.time_ns()}")[0][0]


def _outcome(fleet, message: int) -> tuple[str, str | None, str | None]:
    fleet.wait_until(lambda: fleet.sql("SELECT status FROM message_queue WHERE id = :m",
                                       m=message)[0][0] in ("sent", "failed"))
    return tuple(fleet.sql("SELECT status, last_error, failure_class FROM message_queue"
                           " WHERE id = :m", m=message)[0])


def test_the_worker_fails_private_media(
        fleet, run_worker, server: LocalServer, dials: list) -> None:
    user = fleet.user()
    device = fleet.device(user)
    run_worker()
    for url, words in ACCEPTANCE_URLS:
        url = url.format(port=server.port)
        status, error, failure_class = _outcome(fleet, _queue_image(fleet, user, device, url))
        assert status == "failed" and error.endswith(f"media URL refused: {words}: {url}"), error
        assert failure_class == "content"
    assert server.hits == [] and dials == []
    # the message was at fault, not the device
    assert fleet.sql("SELECT status FROM devices WHERE id = :d", d=device)[0][0] == "online"


def test_the_worker_sends_private_media_when_allowed(
        fleet, run_worker, server: LocalServer, dials: list) -> None:
    user = fleet.user()
    device = fleet.device(user)
    run_worker(allow_private_urls=True)
    url = f"http://media.example.test:{server.port}/photo.png"
    status, error, _class = _outcome(fleet, _queue_image(fleet, user, device, url))
    assert status == "sent", error
    assert server.hits == [("/photo.png", f"media.example.test:{server.port}")]
