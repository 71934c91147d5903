"""Who is on the other end of a loopback connection: the unix user that owns the client's socket.

On Linux every TCP socket is listed in ``/proc/net/tcp`` (IPv4) or
``/proc/net/tcp6`` with its local and remote address and the uid that created
it (the ``uid`` column ``ss -e`` shows). For a connection to this server from
``(REMOTE_ADDR, REMOTE_PORT)`` on loopback, the client's socket is the entry
whose *local* address is that pair and whose *remote* port is our port; its uid
is the client's user. Loopback is private to a network namespace, so the entry
is always in the table this process reads.

Returns ``None`` when the answer is unknown (not loopback, not Linux, the
socket already gone): callers must then treat the client as a stranger.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Optional

TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def supported() -> bool:
    """Whether this system lists sockets with their owners (Linux /proc)."""
    try:
        with open(TABLES[0], "rb"):
            return True
    except OSError:
        return False


def _hex4(address: str) -> str:
    return socket.inet_aton(address)[::-1].hex().upper()


def _hex6(address: str) -> str:
    raw = socket.inet_pton(socket.AF_INET6, address)
    return "".join(raw[i:i + 4][::-1].hex().upper() for i in range(0, 16, 4))


def _needles(address: str) -> list[str]:
    """How ``address`` appears in the kernel's tables (an IPv4 client of a dual-stack socket in both)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        v4 = str(ip.ipv4_mapped)
        return [_hex4(v4), _hex6(str(ip))]
    if isinstance(ip, ipaddress.IPv4Address):
        return [_hex4(str(ip)), _hex6("::ffff:" + str(ip))]
    return [_hex6(str(ip))]


def loopback_peer_uid(remote_addr: Optional[str], remote_port: Optional[str], server_port: Optional[str]
                      ) -> Optional[int]:
    """The uid owning the client socket of a loopback connection, or None if unknown or not loopback."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
        port, ours = int(remote_port or ""), int(server_port or "")
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if not (ip.is_loopback or (mapped is not None and mapped.is_loopback)):
        return None
    locals_ = {f"{n}:{port:04X}" for n in _needles(str(ip))}
    suffix = f":{ours:04X}"
    for table in TABLES:
        try:
            with open(table, encoding="ascii", errors="replace") as f:
                f.readline()
                for line in f:
                    fields = line.split()
                    if len(fields) > 7 and fields[1] in locals_ and fields[2].endswith(suffix):
                        return int(fields[7])
        except (OSError, ValueError):
            continue
    return None
