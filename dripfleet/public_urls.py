"""Outbound URLs reach public addresses only: the syntax check for the API and the fetch itself.

Every URL the system fetches on a user's behalf (media now, webhooks later) goes through here.
The fetch resolves the name itself, checks every address, and connects to the checked address
(TLS still verified for the name), so no second lookup can answer differently; it follows
redirects itself, re-checking each hop. ALLOW_PRIVATE_URLS turns the address checks off.

Errors say what was refused, never what answered at a private address: a connection refused, a
timeout and a TLS failure all read "could not be downloaded", so they cannot map internal ports.
"""

import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.response import BaseHTTPResponse

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2000
MAX_REDIRECTS = 3
DEFAULT_TIMEOUT_SECONDS = 20.0
_REDIRECTS = (301, 302, 303, 307, 308)
# worth retrying although the server answered: it asked us to come back later
_TRANSIENT_4XX = (408, 425, 429)
_CHUNK = 64 * 1024
# addresses tried per hop when a name has several (an unreachable IPv6 answer, then IPv4)
_MAX_ADDRESSES = 4
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# 6to4 and Teredo tunnel to an IPv4 address chosen by whoever holds the name: never public here
_TUNNELS = (ipaddress.IPv6Network("2002::/16"), ipaddress.IPv6Network("2001::/32"))
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class UrlRefused(ValueError):
    """The URL may not be fetched (not http(s), no host, a private or local address): permanent."""


class FetchFailed(Exception):
    """The fetch got no usable answer; status is the HTTP status when the server answered."""

    def __init__(self, message: str, status: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent


class TooLarge(FetchFailed):
    """The answer is larger than the limit; size is the declared size when the server gave one."""

    def __init__(self, size: int | None, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes", permanent=True)
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class UrlPolicy:
    """What a fetch may reach. The defaults are production's; the rest are seams for tests."""

    allow_private: bool = False
    # None: resolve_host of this module, looked up at each fetch (tests may replace it)
    resolver: Resolver | None = None
    # exact (address, port) pairs taken as public: lets a test server on 127.0.0.1 stand in for
    # a public host whose redirects are then checked like any other
    treat_as_public: frozenset[tuple[str, int]] = frozenset()
    # CA bundle for https (None: certifi's, as requests uses)
    ca_certs: str | None = None


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str  # ASCII name (IDNA) or the address in its normal form; no brackets, no final dot
    port: int
    path: str  # path and query, as sent
    address: Address | None  # set when the URL names an address rather than a host name

    @property
    def host_header(self) -> str:
        """The Host header: the name (bracketed for IPv6), with the port when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Fetched:
    """A successful (2xx) answer, read in full."""

    url: str  # the last hop's URL
    status: int
    content_type: str | None
    data: bytes


def is_public_address(address: Address) -> bool:
    """Whether address is globally routable unicast (IPv4 inside IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(address in tunnel for tunnel in _TUNNELS):
            return False
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified
    )


def check_url_syntax(url: str, allow_private: bool = False) -> Target:
    """The URL checked without any lookup: http(s), a host, no literal private address and no
    localhost name (unless allow_private); raises UrlRefused saying why."""
    return _check_target(url, UrlPolicy(allow_private=allow_private))


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses host resolves to, in the system resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def fetch(url: str, limit: int, policy: UrlPolicy | None = None,
          timeout: float = DEFAULT_TIMEOUT_SECONDS, total: float | None = None,
          max_redirects: int = MAX_REDIRECTS) -> Fetched:
    """GET url from public addresses only, following at most max_redirects redirects (each one
    checked), at most limit bytes, timeout seconds per connect / read and total seconds in all
    (3 × timeout by default). Raises UrlRefused or FetchFailed (TooLarge)."""
    policy = policy or UrlPolicy()
    deadline = time.monotonic() + (3 * timeout if total is None else total)
    for hop in range(max_redirects + 1):
        try:
            target = _check_target(url, policy)
            addresses = (
                [target.address] if target.address is not None else _resolve(target, policy))
        except UrlRefused as error:
            if hop == 0:
                raise
            raise UrlRefused(f"after a redirect, {error}") from None
        pool, response = _open(target, addresses, policy, timeout, deadline)
        try:
            location = response.headers.get("location")
            if response.status in _REDIRECTS and location:
                url = _redirect_url(target.url, location)
                continue
            if not 200 <= response.status < 300:
                raise FetchFailed(
                    f"answered {response.status}", status=response.status,
                    permanent=response.status < 500 and response.status not in _TRANSIENT_4XX)
            data = _read(response, limit, timeout, deadline)
            return Fetched(target.url, response.status, response.headers.get("content-type"),
                           data)
        except (Urllib3Error, OSError) as error:
            raise _network_failure(target, error) from error
        finally:
            # close, never drain: draining would read whatever the server chose to send
            response.close()
            pool.close()
    raise FetchFailed(f"redirected more than {max_redirects} times", permanent=True)


# ---- checks --------------------------------------------------------------------------------------


def _check_target(url: str, policy: UrlPolicy) -> Target:
    scheme, host, port, path = _split(url)
    address = _literal_address(host)
    if address is not None:
        host = str(address)
        if not _allowed(address, port, policy):
            raise UrlRefused(f"{host} is not a public address")
    elif not policy.allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise UrlRefused(f"{host} is a local name")
    return Target(url, scheme, host, port, path, address)


def _split(url: str) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url:
        raise UrlRefused("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # parsers disagree on these; refusing them leaves one reading of the URL
    if "\\" in url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UrlRefused("the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("the URL is not valid") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("the URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise UrlRefused("the URL must not contain a user name or password")
    host = (parts.hostname or "").removesuffix(".")
    if not host:
        raise UrlRefused("the URL has no host")
    if ":" not in host:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UrlRefused(f"{host} is not a valid host name") from None
        if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
            raise UrlRefused(f"{host} is not a valid host name")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if port == 0:
        raise UrlRefused("the URL's port must not be 0")
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80), path


def _literal_address(host: str) -> Address | None:
    """The address a host names literally, in any form a resolver accepts (inet_aton's decimal,
    octal and hex parts: 2130706433, 0x7f.1, 0177.0.0.1 are all 127.0.0.1)."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRefused(f"{host} is not a valid address") from None
    parts = host.split(".")
    if not all(_IPV4_PART.match(part) for part in parts):
        return None
    if len(parts) > 4:
        raise UrlRefused(f"{host} is not a valid address")
    numbers = [_ipv4_number(part) for part in parts]
    # a.b.c.d, a.b.c16, a.b24, a32: the last part fills the remaining bytes
    last_bits = 8 * (5 - len(numbers))
    if (any(n is None or n > 255 for n in numbers[:-1]) or numbers[-1] is None
            or numbers[-1] >= 2 ** last_bits):
        raise UrlRefused(f"{host} is not a valid address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int | None:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if set(part) <= set("01234567") else None
    return int(part)


def _allowed(address: Address, port: int, policy: UrlPolicy) -> bool:
    return (policy.allow_private or (str(address), port) in policy.treat_as_public
            or is_public_address(address))


def _resolve(target: Target, policy: UrlPolicy) -> list[Address]:
    resolver = policy.resolver or resolve_host
    try:
        answers = resolver(target.host, target.port)
    except socket.gaierror as error:
        if error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
            # the same words as for a private answer: whether an internal name exists is not
            # for users to find out
            raise UrlRefused(f"{target.host} does not resolve to a public address") from None
        log.info("resolving %s failed: %s", target.host, error)
        raise FetchFailed("could not be downloaded") from None
    addresses: list[Address] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer))
        except ValueError:
            continue
    # one private answer refuses the name: mixing public and private answers is how rebinding
    # attacks pick their moment
    if not addresses or not all(_allowed(a, target.port, policy) for a in addresses):
        raise UrlRefused(f"{target.host} does not resolve to a public address")
    return addresses


def _redirect_url(current: str, location: str) -> str:
    try:
        return urljoin(current, location)
    except ValueError:
        raise UrlRefused("the server redirected to an invalid URL") from None


# ---- the connection ------------------------------------------------------------------------------


def _open(target: Target, addresses: list[Address], policy: UrlPolicy, timeout: float,
          deadline: float) -> tuple[HTTPConnectionPool, BaseHTTPResponse]:
    """Send the GET to the first checked address that accepts a connection."""
    failure: BaseException | None = None
    for address in addresses[:_MAX_ADDRESSES]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        pool = _pool(target, address, policy)
        limit = min(timeout, remaining)
        try:
            response = pool.urlopen(
                "GET", target.path, headers=_headers(target), redirect=False, retries=False,
                preload_content=False, release_conn=False, assert_same_host=False,
                timeout=Timeout(connect=limit, read=limit))
        except (Urllib3Error, OSError) as error:
            pool.close()
            failure = error
            continue
        return pool, response
    raise _network_failure(target, failure)


def _pool(target: Target, address: Address, policy: UrlPolicy) -> HTTPConnectionPool:
    """A pool that dials address itself: no lookup happens after the check."""
    if target.scheme == "https":
        # SNI and the certificate check use the name, not the address dialled
        return HTTPSConnectionPool(
            str(address), target.port, maxsize=1, retries=False, cert_reqs="CERT_REQUIRED",
            ca_certs=policy.ca_certs or certifi.where(), server_hostname=target.host,
            assert_hostname=target.host)
    return HTTPConnectionPool(str(address), target.port, maxsize=1, retries=False)


def _headers(target: Target) -> dict[str, str]:
    # identity: a compressed answer would make the size limit count the wrong bytes
    return {"Host": target.host_header, "User-Agent": "dripfleet", "Accept": "*/*",
            "Accept-Encoding": "identity"}


def _read(response: BaseHTTPResponse, limit: int, timeout: float, deadline: float) -> bytes:
    declared = (response.headers.get("content-length") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the whole download took too long")
        # each read waits at most until the deadline: a server trickling bytes is cut off there
        _set_read_timeout(response, min(timeout, remaining))
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge(None, limit)
        chunks.append(chunk)


def _set_read_timeout(response: BaseHTTPResponse, seconds: float) -> None:
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _network_failure(target: Target, error: BaseException | None) -> FetchFailed:
    # the detail goes to the operator's log only: shown to users it would map ports
    log.info("fetching %s failed: %r", target.url, error)
    return FetchFailed("could not be downloaded")
