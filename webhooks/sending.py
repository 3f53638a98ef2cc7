"""One attempt: check the endpoint's address, sign the payload, POST it, read the first 1 kB.

The name is resolved here, every address checked with dripfleet.public_urls' rule, and the
request goes to the checked address (TLS still verified for the name through SNI), so no second
lookup can answer differently. Redirects are not followed: a 3xx is a failed attempt.
"""

import asyncio
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import httpx
from standardwebhooks import Webhook

from dripfleet.public_urls import Address, Target, UrlPolicy, UrlRefused, check_url_syntax
from dripfleet.public_urls import is_public_address as _is_public
from dripfleet.stores.webhook_dispatch import Claimed

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
TOTAL_TIMEOUT_SECONDS = 15.0
EXCERPT_BYTES = 1024
# one pooled client per endpoint origin (a pinned address is shared by many names behind a CDN,
# and a connection opened for one name must not carry another's requests); idle ones are closed
MAX_CLIENTS = 256


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: a status code and the answer's start, or an error."""

    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None


@lru_cache(maxsize=4096)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def signed_headers(delivery: Claimed, when: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one signature, two while a rotated-out secret still signs."""
    signatures = [_signer(delivery.secret).sign(delivery.event_id, when, delivery.payload)]
    if delivery.previous_secret:
        signatures.append(
            _signer(delivery.previous_secret).sign(delivery.event_id, when, delivery.payload))
    return {
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "dripfleet-webhooks",
    }


class Sender:
    """Sends attempts on the running event loop; per_endpoint bounds each origin's connections."""

    def __init__(self, policy: UrlPolicy, per_endpoint: int) -> None:
        self.policy = policy
        self.per_endpoint = per_endpoint
        self._clients: OrderedDict[tuple[str, str, int], httpx.AsyncClient] = OrderedDict()

    async def send(self, delivery: Claimed) -> Attempt:
        """POST the delivery once; never raises for what the endpoint or the network did."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(TOTAL_TIMEOUT_SECONDS):
                target = check_url_syntax(delivery.url, allow_private=self.policy.allow_private)
                addresses = await self._addresses(target)
                status, excerpt = await self._post(target, addresses, delivery)
            return Attempt(status, _ms(started), excerpt, None)
        except UrlRefused as error:
            return Attempt(None, _ms(started), None, f"refused: {error}")
        except TimeoutError:
            return Attempt(None, _ms(started), None,
                           f"no answer within {TOTAL_TIMEOUT_SECONDS:g} s")
        except httpx.TimeoutException as error:
            return Attempt(None, _ms(started), None, f"timed out ({type(error).__name__})")
        except (httpx.HTTPError, OSError) as error:
            return Attempt(None, _ms(started), None, f"connection failed: {_reason(error)}")

    async def close(self) -> None:
        """Close every pooled connection."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def _addresses(self, target: Target) -> list[Address]:
        if target.address is not None:
            return [target.address]
        try:
            if self.policy.resolver is not None:
                answers = self.policy.resolver(target.host, target.port)
            else:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, type=socket.SOCK_STREAM)
                answers = list(dict.fromkeys(str(info[4][0]) for info in infos))
        except socket.gaierror as error:
            raise UrlRefused(f"{target.host} could not be resolved ({error.strerror})") from None
        addresses = [ipaddress.ip_address(a) for a in answers if _is_address(a)]
        # one private answer refuses the name (public_urls' rule: rebinding picks its moment)
        if not addresses or not all(self._allowed(a, target.port) for a in addresses):
            raise UrlRefused(f"{target.host} does not resolve to a public address")
        return addresses

    def _allowed(self, address: Address, port: int) -> bool:
        return (self.policy.allow_private or (str(address), port) in self.policy.treat_as_public
                or _is_public(address))

    async def _post(self, target: Target, addresses: list[Address],
                    delivery: Claimed) -> tuple[int, str]:
        client = await self._client(target)
        body = delivery.payload.encode()
        headers = signed_headers(delivery, datetime.now(UTC))
        headers["host"] = target.host_header
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        failure: Exception | None = None
        for address in addresses[:4]:
            host = f"[{address}]" if address.version == 6 else str(address)
            url = f"{target.scheme}://{host}:{target.port}{target.path}"
            try:
                async with client.stream("POST", url, content=body, headers=headers,
                                         extensions=extensions) as response:
                    return response.status_code, await _excerpt(response)
            except httpx.ConnectError as error:  # the next address may answer
                failure = error
        assert failure is not None
        raise failure

    async def _client(self, target: Target) -> httpx.AsyncClient:
        key = (target.scheme, target.host, target.port)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                follow_redirects=False, trust_env=False,
                timeout=httpx.Timeout(TOTAL_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
                limits=httpx.Limits(max_connections=self.per_endpoint,
                                    max_keepalive_connections=self.per_endpoint))
            self._clients[key] = client
            while len(self._clients) > MAX_CLIENTS:
                _, oldest = self._clients.popitem(last=False)
                await oldest.aclose()
        self._clients.move_to_end(key)
        return client


async def _excerpt(response: httpx.Response) -> str:
    """The answer's first 1 kB as text (what a person reading the delivery log needs)."""
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    return clean_text(data[:EXCERPT_BYTES].decode("utf-8", errors="replace"))


def clean_text(text: str) -> str:
    """Text PostgreSQL can store (no NUL)."""
    return text.replace("\x00", "\ufffd")


def _is_address(answer: str) -> bool:
    try:
        ipaddress.ip_address(answer)
    except ValueError:
        return False
    return True


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return clean_text(text[:300])


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
