"""Where requests to an OpenAI-compatible server may go, and what may go with them.

- Internal addresses (loopback, private, link-local, shared, reserved, multicast) are
  where a deployment's own services listen (Redis, PostgreSQL, cloud metadata); an
  endpoint may be on one only where the caller's :class:`AddressPolicy` allows it. The
  policy is checked when a URL is named and again as each connection is made, on the
  address the connection then goes to: a host name may resolve elsewhere by then.
- An API key belongs to the servers of some origins (``scheme://host:port``):
  :func:`url_origin` is what a key is bound to.
- A remote server's error is told by its status alone (:func:`remote_failure`): its body
  may hold whatever the server keeps, and the message is stored where others read it.

Plain Python: the openai client's HTTP stack is imported only when a client is made."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Sent when the caller has no key: servers that want none ignore it, and the openai
# client then reads none from the environment.
NO_KEY = "not-needed"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ANY = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


class EndpointRefused(ValueError):
    """An endpoint the policy does not let a request reach; the message says why."""


def url_origin(url: str) -> str:
    """``scheme://host:port`` of an http(s) URL, lower case, with the default port
    written out, so that ``https://API.example.com/v1`` and ``https://api.example.com:443``
    are one origin. ValueError for anything else."""
    parts = urlsplit(str(url).strip())
    port = parts.port  # raises ValueError on a port that is not a number
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port or _DEFAULT_PORTS[parts.scheme]}"


def is_internal(address: str) -> bool:
    """Whether an IP address is one a deployment's own services could listen on rather
    than the public internet: loopback, private, link-local, shared (100.64/10),
    reserved, unspecified or multicast, IPv4 written inside IPv6 included."""
    ip = _ip(address)
    candidates = [ip]
    if ip.version == 6:
        candidates += [embedded for embedded in (ip.sixtofour, *(ip.teredo or ())) if embedded is not None]
    return any(not c.is_global or c.is_multicast or c.is_reserved for c in candidates)


def _ip(address: str):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # the IPv4 address is where the connection goes
    return ip


def resolve(host: str, port: int) -> list[str]:
    """The addresses a connection to ``host`` would try (OSError when it resolves to none)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    """Which internal addresses endpoints may use: ``allowed`` networks (every address
    outside them that :func:`is_internal` flags is refused). ``hint`` ends each refusal:
    what the deployment would change to allow it."""

    allowed: tuple = ()
    hint: str = ""

    @classmethod
    def from_setting(cls, value: str | None, *, hint: str = "") -> AddressPolicy:
        """``1``/``true``/``yes``/``on``: every internal address; blank or ``0``/``false``:
        none; else networks separated by commas (``10.0.5.0/24,10.0.6.7``).
        ValueError on a network that does not parse."""
        text = (value or "").strip().lower()
        if text in ("1", "true", "yes", "on"):
            return cls(allowed=_ANY, hint=hint)
        if text in ("", "0", "false", "no", "off"):
            return cls(hint=hint)
        try:
            networks = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in text.split(",") if n.strip())
        except ValueError as exc:
            raise ValueError(f"not 1, 0 or a list of IP networks: {value!r} ({exc})") from None
        return cls(allowed=networks, hint=hint)

    @property
    def allows_all(self) -> bool:
        return all(any(n == a for a in self.allowed) for n in _ANY)

    def refuses(self, address: str) -> bool:
        if not is_internal(address):
            return False
        ip = _ip(address)
        return not any(ip.version == n.version and ip in n for n in self.allowed)

    def check(self, host: str, addresses: Iterable[str]) -> None:
        """EndpointRefused when any of the addresses ``host`` resolved to is refused
        (an answer mixing a public address with an internal one is refused whole)."""
        refused = [a for a in addresses if self.refuses(a)]
        if refused:
            shown = host if refused == [host] else f"{host} ({', '.join(refused)})"
            raise EndpointRefused(f"{shown} is an internal address (loopback, private or link-local), where no "
                                  f"endpoint may be{': ' + self.hint if self.hint else ''}.")

    def check_url(self, url: str) -> None:
        """The URL's host resolved now and checked: EndpointRefused when refused or when
        the host resolves to nothing."""
        if self.allows_all:
            return
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or _DEFAULT_PORTS.get(parts.scheme, 443)
        try:
            addresses = resolve(host, port)
        except OSError:
            raise EndpointRefused(f"{host} does not resolve to an address, so it cannot be checked: name a host "
                                  f"this machine resolves.") from None
        self.check(host, addresses)


def parse_key_origins(text: str | None) -> dict[str, tuple[str, ...]]:
    """The JSON object of which servers each API key may go to: environment variable
    name -> a base URL or a list of them, reduced to their origins. ValueError, saying
    what is wrong, for anything else."""
    if not (text or "").strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError('expected an object, e.g. {"LAB_VLLM_KEY": ["http://gpu-7:8000"]}')
    out = {}
    for name, urls in data.items():
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not the name of an environment variable")
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise ValueError(f"{name}: give a base URL or a list of them")
        try:
            out[name] = tuple(dict.fromkeys(url_origin(u) for u in urls))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def remote_failure(origin: str, exc: BaseException) -> str:
    """What went wrong with a request to ``origin``, without anything the server sent
    back: the openai client's errors carry the response body in their message."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"{origin}: the endpoint answered HTTP {status}"
    name = exc.__class__.__name__
    if "Timeout" in name:
        return f"{origin}: the request timed out"
    if "Connection" in name:
        return f"{origin}: Connection error: could not connect"
    return f"{origin}: the request failed ({name})"


def openai_client(base_url: str | None, api_key: str | None, *, timeout: float, max_retries: int,
                  policy: AddressPolicy | None = None):
    """An ``openai.OpenAI`` client that sends ``api_key`` (none: a placeholder; never a
    key read from the environment) and, with a ``policy``, connects to no address it
    refuses: checked now (EndpointRefused) and again on each new connection."""
    import openai

    http_client = None
    if policy is not None and not policy.allows_all:
        if base_url:
            policy.check_url(base_url)
        http_client = openai.DefaultHttpxClient(transport=_guarded_transport(policy), timeout=timeout)
    key = api_key or NO_KEY
    # The explicit header also keeps out an Authorization the environment would add
    # (OPENAI_CUSTOM_HEADERS).
    return openai.OpenAI(base_url=base_url, api_key=key, default_headers={"Authorization": f"Bearer {key}"},
                         timeout=timeout, max_retries=max_retries, http_client=http_client)


def _guarded_transport(policy: AddressPolicy):
    """An HTTP transport whose connections go only to addresses ``policy`` allows: the
    host is resolved as the connection is made and the connection goes to the address
    checked, so an answer that changed since the last check cannot slip through."""
    import httpcore2
    import httpx2
    import openai

    class GuardedBackend(httpcore2.SyncBackend):
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            try:
                addresses = resolve(host, port)
            except OSError as exc:
                raise httpcore2.ConnectError(str(exc)) from exc
            policy.check(host, addresses)
            last = None
            for address in addresses:
                try:
                    return super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)
                except httpcore2.ConnectError as exc:
                    last = exc
            raise last

    limits = openai.DEFAULT_CONNECTION_LIMITS
    transport = httpx2.HTTPTransport(limits=limits)
    # httpx2 takes no network backend: the pool it made is replaced by one with ours.
    transport._pool = httpcore2.ConnectionPool(
        ssl_context=httpx2.create_ssl_context(), max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend())
    return transport
