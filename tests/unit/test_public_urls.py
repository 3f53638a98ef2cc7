"""Outbound URLs reach public addresses only: the syntax check, and the fetch against a real
local server that must see no request unless the test lets an address through."""

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from dripfleet import public_urls
from dripfleet.public_urls import (
    FetchFailed,
    TooLarge,
    UrlPolicy,
    UrlRefused,
    check_url_syntax,
    fetch,
    is_public_address,
)
from tests.local_http import PNG, LocalServer

TLS_PEM = str(Path(__file__).parent / "tls" / "media.example.test.pem")  # key + self-signed cert


def resolving(table: dict[str, list[str]]):
    """A resolver answering from table (names the system resolver must never be asked)."""
    def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """An internal service on 127.0.0.1 (redirects: /to?<url>; /status/<n>; /big; /chunked)."""
    def route(path: str):
        if path.startswith("/to?"):
            return 302, {"Location": unquote(path[4:])}, b""
        if path.startswith("/status/"):
            return int(path.rsplit("/", 1)[1]), {}, b"no"
        if path == "/big":
            return 200, {"Content-Type": "image/png"}, PNG * 10
        if path == "/chunked":
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(PNG) * 10, PNG * 10)
            return 200, {"Transfer-Encoding": "chunked"}, body
        return None

    made = LocalServer(route)
    yield made
    made.close()


@pytest.fixture
def internal() -> Iterator[LocalServer]:
    """A second internal service: the target of refused redirects."""
    made = LocalServer()
    yield made
    made.close()


# ---- the syntax check (the API's) ----------------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1:8080/a.png", "127.0.0.1 is not a public address"),
    ("http://2130706433/a.png", "127.0.0.1 is not a public address"),
    ("http://0x7f.1/a.png", "127.0.0.1 is not a public address"),
    ("http://0177.0.0.1/a.png", "127.0.0.1 is not a public address"),
    ("http://127.1/a.png", "127.0.0.1 is not a public address"),
    ("http://[::1]/a.png", "::1 is not a public address"),
    ("http://[::ffff:127.0.0.1]/a.png", "::ffff:7f00:1 is not a public address"),
    ("http://[::ffff:a9fe:a9fe]/", "is not a public address"),
    ("http://[64:ff9b::a00:1]/", "is not a public address"),  # NAT64 of 10.0.0.1
    ("http://[2002:7f00:1::1]/", "is not a public address"),  # 6to4 of 127.0.0.1
    ("http://[fe80::1]/", "is not a public address"),
    ("http://[fc00::1]/", "is not a public address"),
    ("http://[ff02::1]/", "is not a public address"),
    ("http://localhost/a.png", "localhost is a local name"),
    ("http://LOCALHOST./a.png", "localhost is a local name"),
    ("http://media.localhost/a.png", "media.localhost is a local name"),
    ("http://10.0.0.1/a.png", "10.0.0.1 is not a public address"),
    ("http://172.16.5.4/", "is not a public address"),
    ("http://192.168.1.1/", "is not a public address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public address"),
    ("http://100.64.0.1/", "is not a public address"),
    ("http://224.0.0.1/", "is not a public address"),
    ("http://0.0.0.0/", "is not a public address"),
    ("http://0/", "0.0.0.0 is not a public address"),
    ("http://240.0.0.1/", "is not a public address"),
    ("http://255.255.255.255/", "is not a public address"),
    ("http://08.1.2.3/", "is not a valid address"),
    ("http://1.2.3.4.5/", "is not a valid address"),
    ("ftp://example.com/a.png", "must start with http:// or https://"),
    ("file:///etc/passwd", "must start with http:// or https://"),
    ("gopher://example.com/", "must start with http:// or https://"),
    ("http:///a.png", "has no host"),
    ("http://user:secret@example.com/a.png", "user name or password"),
    ("http://example.com@127.0.0.1/a.png", "user name or password"),
    ("http://exa mple.com/a.png", "spaces, control characters or backslashes"),
    ("http://example.com\\@127.0.0.1/", "spaces, control characters or backslashes"),
    ("http://example.com:0/", "port must not be 0"),
    ("http://example.com:99999/", "not valid"),
    ("", "empty"),
]


@pytest.mark.parametrize("url, words", REFUSED)
def test_the_syntax_check_refuses_non_public_urls(url: str, words: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url_syntax(url)
    assert words in str(refused.value)


@pytest.mark.parametrize("url, host, port, path", [
    ("https://cdn.example.com/a.png", "cdn.example.com", 443, "/a.png"),
    ("http://Example.COM:8080/a%20b.png?x=1#frag", "example.com", 8080, "/a%20b.png?x=1"),
    ("http://8.8.8.8", "8.8.8.8", 80, "/"),
    ("http://134744072/", "8.8.8.8", 80, "/"),
    ("http://[2001:4860:4860::8888]/x", "2001:4860:4860::8888", 80, "/x"),
    ("http://[64:ff9b::808:808]/x", "64:ff9b::808:808", 80, "/x"),
    ("http://bücher.example/x", "xn--bcher-kva.example", 80, "/x"),
])
def test_the_syntax_check_accepts_public_urls(url: str, host: str, port: int, path: str) -> None:
    target = check_url_syntax(url)
    assert (target.host, target.port, target.path) == (host, port, path)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/a.png", "http://localhost/a.png",
                                 "http://[::1]/a.png", "http://10.0.0.1/a.png"])
def test_allow_private_turns_the_address_checks_off(url: str) -> None:
    assert check_url_syntax(url, allow_private=True).url == url


@pytest.mark.parametrize("url", ["ftp://10.0.0.1/a", "http://u:p@127.0.0.1/", "http:///x"])
def test_allow_private_keeps_the_syntax_checks(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url_syntax(url, allow_private=True)


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("64:ff9b::808:808", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", False), ("::1", False),
    ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True), ("fd00::1", False),
    ("2001:db8::1", False), ("192.0.2.10", False), ("198.18.0.1", False), ("::", False),
])
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


# ---- the fetch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/a.png", "http://localhost:{port}/a.png", "http://[::1]:{port}/a.png",
    "http://2130706433:{port}/a.png", "http://0x7f.1:{port}/a.png",
    "http://[::ffff:127.0.0.1]:{port}/a.png",
])
def test_a_private_url_is_refused_and_the_server_sees_no_request(server: LocalServer,
                                                                  url: str) -> None:
    with pytest.raises(UrlRefused, match="not a public address|is a local name"):
        fetch(url.format(port=server.port), 10_000)
    assert server.hits == []


def test_a_public_looking_name_that_resolves_to_loopback_is_refused(server: LocalServer) -> None:
    policy = UrlPolicy(resolver=resolving({"media.example.test": ["127.0.0.1"]}))
    with pytest.raises(UrlRefused) as refused:
        fetch(f"http://media.example.test:{server.port}/a.png", 10_000, policy)
    # the text names what was refused, not where the name points
    assert str(refused.value) == "media.example.test does not resolve to a public address"
    assert server.hits == []


def test_one_private_answer_among_public_ones_refuses_the_name(server: LocalServer) -> None:
    policy = UrlPolicy(resolver=resolving({"media.example.test": ["8.8.8.8", "127.0.0.1"]}))
    with pytest.raises(UrlRefused, match="does not resolve to a public address"):
        fetch(f"http://media.example.test:{server.port}/a.png", 10_000, policy)
    assert server.hits == []


def test_an_unknown_name_reads_like_a_private_one() -> None:
    policy = UrlPolicy(resolver=resolving({}))
    with pytest.raises(UrlRefused) as refused:
        fetch("http://db.internal.example/a.png", 10_000, policy)
    assert str(refused.value) == "db.internal.example does not resolve to a public address"


def test_the_system_resolver_is_used_by_default(monkeypatch: pytest.MonkeyPatch,
                                                server: LocalServer) -> None:
    monkeypatch.setattr(public_urls, "resolve_host",
                        resolving({"media.example.test": ["10.0.0.7"]}))
    with pytest.raises(UrlRefused, match="does not resolve to a public address"):
        fetch(f"http://media.example.test:{server.port}/a.png", 10_000)


def test_the_connection_dials_the_checked_address_without_a_second_lookup(
        monkeypatch: pytest.MonkeyPatch, server: LocalServer) -> None:
    # a second lookup of the name is where DNS rebinding would answer 127.0.0.1 after a public
    # answer passed the check; every lookup the connection makes is recorded here
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def recording(host, *args, **kw):
        looked_up.append(str(host))
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    policy = UrlPolicy(resolver=resolving({"media.example.test": ["127.0.0.1"]}),
                       treat_as_public=frozenset({("127.0.0.1", server.port)}))
    fetched = fetch(f"http://media.example.test:{server.port}/a.png", 10_000, policy)
    assert fetched.data == PNG and fetched.content_type == "image/png"
    assert "media.example.test" not in looked_up and looked_up  # only the address was dialled
    # the server saw the name: virtual hosts keep working
    assert server.hits == [("/a.png", f"media.example.test:{server.port}")]


@pytest.mark.parametrize("location, words", [
    ("http://127.0.0.1:{port}/secret", "127.0.0.1 is not a public address"),
    ("http://internal.example.test:{port}/secret",
     "internal.example.test does not resolve to a public address"),
    ("http://localhost:{port}/secret", "localhost is a local name"),
    ("http://[::1]:{port}/secret", "::1 is not a public address"),
])
def test_a_redirect_to_a_private_address_is_refused(server: LocalServer, internal: LocalServer,
                                                    location: str, words: str) -> None:
    # the first hop is let through by an explicit rule for the server's exact address and port;
    # the redirect target is another port on 127.0.0.1, which no rule allows
    policy = UrlPolicy(
        resolver=resolving({"media.example.test": ["127.0.0.1"],
                            "internal.example.test": ["127.0.0.1"]}),
        treat_as_public=frozenset({("127.0.0.1", server.port)}))
    target = location.format(port=internal.port)
    with pytest.raises(UrlRefused) as refused:
        fetch(f"http://media.example.test:{server.port}/to?{target}", 10_000, policy)
    assert str(refused.value) == f"after a redirect, {words}"
    assert [unquote(path) for path, _host in server.hits] == [f"/to?{target}"]
    assert internal.hits == []


def test_with_allow_private_the_same_redirect_reaches_the_server(server: LocalServer,
                                                                 internal: LocalServer) -> None:
    # the counterpart of the test above: the redirect is real, only the check stops it
    policy = UrlPolicy(allow_private=True)
    target = f"http://127.0.0.1:{internal.port}/secret"
    fetched = fetch(f"{server.url}/to?{target}", 10_000, policy)
    assert fetched.data == PNG and fetched.url == target
    assert internal.hits == [("/secret", f"127.0.0.1:{internal.port}")]


def test_at_most_three_redirects_are_followed(server: LocalServer) -> None:
    policy = UrlPolicy(allow_private=True)
    url = f"{server.url}/a.png"
    for _ in range(4):
        url = f"{server.url}/to?{url}"
    with pytest.raises(FetchFailed) as failed:
        fetch(url, 10_000, policy)
    assert failed.value.permanent and "redirected more than 3 times" in str(failed.value)
    assert len(server.hits) == 4
    assert fetch(url.split("/to?", 1)[1], 10_000, policy).data == PNG  # three are fine


def test_status_codes_say_whether_to_retry(server: LocalServer) -> None:
    policy = UrlPolicy(allow_private=True)
    for status, permanent in ((404, True), (403, True), (429, False), (500, False),
                              (503, False)):
        with pytest.raises(FetchFailed) as failed:
            fetch(f"{server.url}/status/{status}", 10_000, policy)
        assert (failed.value.status, failed.value.permanent) == (status, permanent)
        assert str(failed.value) == f"answered {status}"


@pytest.mark.parametrize("path, declared", [("/big", len(PNG) * 10), ("/chunked", None)])
def test_the_size_is_capped_declared_or_streamed(server: LocalServer, path: str,
                                                 declared: int | None) -> None:
    policy = UrlPolicy(allow_private=True)
    with pytest.raises(TooLarge) as failed:
        fetch(f"{server.url}{path}", len(PNG) * 5, policy)
    assert failed.value.permanent and failed.value.size == declared
    assert fetch(f"{server.url}{path}", len(PNG) * 10, policy).data == PNG * 10


def test_a_closed_port_and_a_hanging_server_read_the_same(server: LocalServer) -> None:
    policy = UrlPolicy(allow_private=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(FetchFailed) as refused:
        fetch(f"http://127.0.0.1:{closed}/a.png", 10_000, policy, timeout=0.3)
    with pytest.raises(FetchFailed) as hung:
        fetch(f"{server.url}/hang", 10_000, policy, timeout=0.3)
    assert str(refused.value) == str(hung.value) == "could not be downloaded"
    assert not refused.value.permanent and not hung.value.permanent
    assert refused.value.status is hung.value.status is None


def test_the_total_time_is_capped_however_steadily_bytes_arrive(server: LocalServer) -> None:
    policy = UrlPolicy(allow_private=True)
    with pytest.raises(FetchFailed) as failed:
        fetch(f"{server.url}/trickle", 10_000, policy, timeout=2, total=0.5)
    assert str(failed.value) == "could not be downloaded" and not failed.value.permanent


def test_tls_is_checked_against_the_name_while_the_checked_address_is_dialled() -> None:
    tls = LocalServer(certfile=TLS_PEM)
    try:
        policy = UrlPolicy(resolver=resolving({"media.example.test": ["127.0.0.1"],
                                               "other.example.test": ["127.0.0.1"]}),
                           treat_as_public=frozenset({("127.0.0.1", tls.port)}),
                           ca_certs=TLS_PEM)
        fetched = fetch(f"https://media.example.test:{tls.port}/a.png", 10_000, policy)
        assert fetched.data == PNG
        # the same address under a name the certificate does not hold: refused by TLS
        with pytest.raises(FetchFailed, match="could not be downloaded"):
            fetch(f"https://other.example.test:{tls.port}/a.png", 10_000, policy)
        # and the certificate is verified at all (not in the default CA bundle)
        with pytest.raises(FetchFailed, match="could not be downloaded"):
            fetch(f"https://media.example.test:{tls.port}/a.png", 10_000,
                  UrlPolicy(resolver=policy.resolver, treat_as_public=policy.treat_as_public))
        assert [path for path, _host in tls.hits] == ["/a.png"]
    finally:
        tls.close()
