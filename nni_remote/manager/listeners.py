"""The manager's two listeners: REST API + portal, and the agent endpoint on a port of its own.

The agent listener is bound when the manager process starts (a resumed
experiment launches agents before serving), on loopback — where local agents
and SSH reverse tunnels arrive — and on each non-loopback address given with
``--also-listen`` (``nniManagerIp``: agents connecting directly). It serves
the agent routes only (server/agent.py). See docs/security.md.
"""
from __future__ import annotations

import socket
from typing import Any, Iterable

from nni_remote.errors import NniRemoteError

WILDCARDS = ("0.0.0.0", "::", "")


def agent_addresses(extra_hosts: Iterable[str]) -> list[str]:
    """Where agents can reach the manager: loopback, plus the direct-mode addresses."""
    from nni_remote.server.access import is_loopback
    direct = [h for h in extra_hosts if h and not is_loopback(h)]
    wild = [h for h in direct if h in WILDCARDS]
    if wild:
        return [wild[0] or "0.0.0.0"]          # the wildcard covers loopback too
    return list(dict.fromkeys(["127.0.0.1"] + direct))


def bind_agent_sockets(addresses: list[str], port: int = 0) -> list[socket.socket]:
    """Bound (not yet listening) sockets, one per address, all on one port (chosen by the first bind if 0)."""
    sockets: list[socket.socket] = []
    try:
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address.strip("[]"), port))
            except OSError as exc:
                raise NniRemoteError(f"cannot listen for agents on {address}:{port}: {exc}. nniManagerIp (and "
                                     "--also-listen) must be an address of this machine, and the port free") from None
            port = sock.getsockname()[1]
        return sockets
    except BaseException:
        for sock in sockets:
            sock.close()
        raise


def run_quietly(server: Any) -> None:
    """``server.run()``; a socket closed under its loop (``server.close()`` from another thread) ends it quietly."""
    try:
        server.run()
    except (OSError, ValueError):
        if server.accepting:
            raise


def agent_server(app: Any, sockets: list[socket.socket], threads: int) -> Any:
    """A waitress server for the agent app on ``sockets`` (its own socket map and thread pool)."""
    import waitress
    return waitress.create_server(app, sockets=sockets, threads=threads, channel_timeout=60,
                                  connection_limit=1000, ident="nni-remote-agents")
