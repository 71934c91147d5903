"""Where a manager keeps its portal/REST access token, so a local client can find it."""
from __future__ import annotations

import os
from typing import Optional

TOKEN_FILE = ".portal-token"


def read_token(exp_dir: str) -> Optional[str]:
    """The access token stored in an experiment directory (readable by its owner only), or None."""
    try:
        with open(os.path.join(exp_dir, TOKEN_FILE), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None
