"""The address guard: which IPs a crawler may connect to, decided after DNS resolution.

Private, loopback, link-local, multicast, reserved and unspecified addresses (IPv4 and
IPv6, IPv4-mapped IPv6 included) are refused unless `fetch.allow_networks` covers them.
The same check runs in the connection class itself (`webtext.fetch.http`), on the address
the socket actually connects to, so DNS rebinding between check and connect cannot slip
a private address through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# ranges not covered by the stdlib's is_private / is_reserved flags on every Python version
_EXTRA_BLOCKED = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "64:ff9b:1::/48",  # local-use NAT64
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
    )
]


class BlockedAddress(Exception):
    """The host resolves only to addresses the guard refuses (or does not resolve)."""


class AddressGuard:
    """`hosts` (fetch.resolve) maps host names to fixed IPs, consulted before DNS, as
    curl's --resolve: an intranet mirror, or tests serving named hosts on 127.0.0.x. A
    mapped address is judged like a resolved one."""

    def __init__(self, allow_networks: Iterable[str] = (), hosts: Mapping[str, str] | None = None):
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
        self.hosts = {k.lower(): v for k, v in (hosts or {}).items()}

    def is_allowed(self, ip: str | IPAddress) -> bool:
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if isinstance(addr, ipaddress.IPv6Address):
            # ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it embeds
            embedded = addr.ipv4_mapped or addr.sixtofour or _nat64(addr)
            if embedded is not None:
                return self.is_allowed(embedded)
            if addr.scope_id:
                return False
        if any(addr.version == net.version and addr in net for net in self.allowed):
            return True
        return not _is_special(addr)

    def resolve(self, host: str, port: int) -> list[tuple[int, str]]:
        """(family, ip) pairs for `host` that the guard allows; BlockedAddress if none."""
        host = host.strip("[]")
        fixed = self.hosts.get(host.lower())
        if fixed is not None:
            if not self.is_allowed(fixed):
                raise BlockedAddress(f"{host} resolves to refused address {fixed}")
            family = socket.AF_INET6 if ":" in fixed else socket.AF_INET
            return [(family, fixed)]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OSError(f"cannot resolve {host!r}: {exc}") from exc
        seen: list[tuple[int, str]] = []
        refused: list[str] = []
        for family, _, _, _, sockaddr in infos:
            ip = sockaddr[0]
            if (family, ip) in seen or ip in refused:
                continue
            if self.is_allowed(ip.split("%")[0]) and "%" not in ip:
                seen.append((family, ip))
            else:
                refused.append(ip)
        if refused:
            # a name that also points inside a private network is refused as a whole:
            # trying the public address first would still hand an attacker the private one
            raise BlockedAddress(f"{host} resolves to refused address {refused[0]}")
        if not seen:
            raise OSError(f"cannot resolve {host!r}: no addresses")
        return seen


def _nat64(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _is_special(addr: IPAddress) -> bool:
    return (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or any(addr.version == net.version and addr in net for net in _EXTRA_BLOCKED)
        or not addr.is_global
    )
