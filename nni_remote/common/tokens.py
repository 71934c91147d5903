"""Where a manager keeps its portal/REST access token, so a local client can find it."""
from __future__ import annotations

import os
from typing import Iterable, Optional
from urllib.parse import urlencode

TOKEN_FILE = ".portal-token"


def read_token(exp_dir: str) -> Optional[str]:
    """The access token stored in an experiment directory (readable by its owner only), or None."""
    try:
        with open(os.path.join(exp_dir, TOKEN_FILE), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def portal_urls(hosts: Iterable[str], port: int, token: Optional[str]) -> list[str]:
    """The URLs to print at start (the wildcard address replaced by names a browser can use)."""
    import socket
    names: list[str] = []
    for host in hosts:
        if host in ("0.0.0.0", "::", ""):
            names += [socket.gethostname(), "127.0.0.1"]
        else:
            names.append(f"[{host}]" if ":" in host else host)
    query = f"?{urlencode({'token': token})}" if token else ""
    return [f"http://{name}:{port}/{query}" for name in dict.fromkeys(names)]
