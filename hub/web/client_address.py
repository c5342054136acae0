"""Who is on the other end of a request: the connection's peer, or - only when that peer is one
of the configured reverse proxies (``MAPPA_HUB_TRUSTED_PROXIES``) - the client its
``X-Forwarded-For`` names.

The header is read from the right: each trusted proxy appends the address it was connected from,
so the first address from the right that is not a trusted proxy is the client. Anything to its
left was written by the client itself and is never believed.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from hub.config import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str | None) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: IPAddress, proxies: tuple[IPNetwork, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(request: web.Request, proxies: tuple[IPNetwork, ...]) -> str | None:
    """The client's address as text; None if it cannot be known."""
    peer = _parse(request.remote)
    if peer is None or not _trusted(peer, proxies):
        return None if peer is None else str(peer)
    hops = [h for value in request.headers.getall("X-Forwarded-For", []) for h in value.split(",")]
    for hop in reversed(hops):
        ip = _parse(hop)
        if ip is None:
            return None  # a trusted proxy wrote something that is not an address
        if not _trusted(ip, proxies):
            return str(ip)
    return str(peer)  # no header, or only proxies: the request came from a proxy itself
