"""docs/config-reference.md is what tools/gen_config_reference.py writes from the config models today."""
from __future__ import annotations

import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_config_reference_is_current():
    generator = runpy.run_path(os.path.join(REPO, "tools", "gen_config_reference.py"))
    with open(os.path.join(REPO, "docs", "config-reference.md"), encoding="utf-8") as f:
        assert f.read() == generator["render"](), "run python3 tools/gen_config_reference.py"
