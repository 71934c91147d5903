"""The README's Python snippet runs as written (ports aside) and every trial of the raised budget finishes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.conftest import free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_readme_python_snippet(tmp_path, isolated_home):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        snippet = re.search(r"```python\n(.*?)```", f.read(), re.S).group(1)
    first, second = free_port(), free_port()
    script = snippet.replace("8080", str(first)).replace("8081", str(second)) + (
        "\nagain = Experiment.connect(%d)\n"
        "print('STATUSES', json.dumps(sorted(j.status for j in again.list_trial_jobs())))\n"
        "again.stop()\n" % second)
    script = "import json\n" + script
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Web portal URLs: http://127.0.0.1:%d" % first in done.stdout
    statuses = json.loads(done.stdout.split("STATUSES ", 1)[1].splitlines()[0])
    assert statuses == ["SUCCEEDED"] * 30        # none cancelled by a stop() right after raising the budget
