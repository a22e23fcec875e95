"""Where a webhook may send: safe targets (no server-side request forgery).

A target is an ``http`` or ``https`` URL without credentials. Its host name is resolved
once, every address it resolves to is checked, and the request then goes to one of those
very addresses (with the name in the ``Host`` header and, for https, as the TLS server
name), so a name cannot resolve to a public address for the check and to a private one
for the connection (DNS rebinding). Refused, unless the administrator allows the host by
its name (``webhooks.allowed_hosts``): private, loopback, link-local, multicast,
reserved, unspecified and other non-global addresses, IPv4 and IPv6, including IPv4
addresses carried in IPv6 ones (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, Teredo).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelyard import limits
from modelyard.errors import InvalidInput

__all__ = ["Resolver", "Target", "check_target", "parse_target", "refusal", "system_resolve"]

#: A host name and port to the addresses to connect to (``socket.getaddrinfo`` by default).
Resolver = Callable[[str, int], list[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SETTING = "webhooks.allowed_hosts"


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: scheme, host name (lowercase, without brackets), port, and the path
    with its query; ``addresses``: what the name resolved to, each one allowed."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...] = ()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == default else f"{shown}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL with ``address`` in place of the name: what is connected to."""
        shown = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{shown}:{self.port}{self.path}"


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection to ``port``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"cannot resolve {host!r}: {exc}", field="url") from None
    return list(dict.fromkeys(str(info[4][0]).partition("%")[0] for info in infos))


def parse_target(url: object) -> Target:
    """The parts of a webhook URL: http or https, a host, no user or password; else
    InvalidInput on ``url``."""
    if not isinstance(url, str):
        raise InvalidInput("a webhook's url must be text", field="url")
    limits.check_text(url, "url", limits.WEBHOOK_URL)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a URL: {exc}", field="url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput(
            f"a webhook's url must be http:// or https://; got {limits.preview(url)!r}", field="url"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "a webhook's url may not carry a user or password: the receiver checks the "
            "signature instead",
            field="url",
        )
    host = (parts.hostname or "").rstrip(".")
    if not host or any(c.isspace() or ord(c) < 32 for c in host):
        raise InvalidInput(f"the url {limits.preview(url)!r} names no host", field="url")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(url, scheme, host, port or (443 if scheme == "https" else 80), path)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def refusal(address: str | IPAddress) -> str | None:
    """Why a webhook may not connect to ``address`` (its class, in words); None when it is
    a public address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if carried is not None:
            why = refusal(carried)
            return f"{why} (carried in an IPv6 address)" if why else None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not a public address", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def check_target(
    url: object, allowed_hosts: Iterable[str] = (), resolve: Resolver = system_resolve
) -> Target:
    """``url`` checked and resolved: every address it names must be public, unless its host
    is one the administrator allows by name (``allowed_hosts``, compared without case).
    InvalidInput on ``url`` names the address and why it is refused."""
    target = parse_target(url)
    allowed = {h.lower().rstrip(".").strip("[]") for h in allowed_hosts}
    literal = _literal(target.host)
    addresses = [str(literal)] if literal is not None else resolve(target.host, target.port)
    if not addresses:
        raise InvalidInput(f"{target.host!r} resolves to no address", field="url")
    if target.host not in allowed:
        for address in addresses:
            why = refusal(address)
            if why is not None:
                named = "" if literal is not None else f"{target.host!r} resolves to "
                raise InvalidInput(
                    f"refused webhook target: {named}{address}, which is {why}; an "
                    f"administrator may allow this host by name in {_SETTING}",
                    field="url",
                )
    return Target(
        target.url, target.scheme, target.host, target.port, target.path, tuple(addresses)
    )
