"""What a machine offers, found with one command (helper of :mod:`nni_remote.services.ssh`).

:func:`probe` runs a single POSIX-shell script over an open connection and
reports the home directory, ``uname``, free disk space in the home, which
``python3`` is used and its version, and whether ``import nni`` works there.
``python_path`` follows NNI (NNI-REFERENCE §6.6): a *directory* prepended to
``PATH``; pointing it at the interpreter file, at a missing directory or at
one without ``python3`` is an error here rather than a silent fallback to the
system Python (NNI issues #1578, #1852, #424).
"""
from __future__ import annotations

import dataclasses
import shlex
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from ...errors import ProbeFailed as ProbeFailed

if TYPE_CHECKING:  # pragma: no cover
    from ._connection import SshConnection

MIN_PYTHON = (3, 8)
MARK = "__nrprobe__"


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """Facts about one machine; ``nni_version`` is None when ``import nni`` fails there."""

    host: str
    home: str
    uname: str
    path: str
    python: str
    python_version: Tuple[int, int, int]
    nni_version: Optional[str]
    nni_error: Optional[str]
    disk_free_bytes: Optional[int]

    @property
    def nni_importable(self) -> bool:
        return self.nni_version is not None


def probe_script(python_path: Optional[str] = None, check_nni: bool = True) -> str:
    """The shell script :func:`probe` runs (exposed for tests and for reading)."""
    lines = [f"M={MARK}"]
    if python_path:
        if python_path.startswith("~/"):
            lines.append(f'PP="$HOME"/{shlex.quote(python_path[2:])}')
        else:
            lines.append(f"PP={shlex.quote(python_path)}")
        lines.append('if [ -f "$PP" ]; then echo "$M pp=file"; '
                     'elif [ ! -d "$PP" ]; then echo "$M pp=missing"; '
                     'else PATH="$PP:$PATH"; export PATH; '
                     '{ [ -f "$PP/python3" ] && [ -x "$PP/python3" ]; } || echo "$M pp=nopython"; fi')
    lines += [
        'echo "$M home=$HOME"',
        'echo "$M path=$PATH"',
        'echo "$M uname=$(uname -srm 2>/dev/null)"',
        'echo "$M df=$(df -Pk "$HOME" 2>/dev/null | tail -n 1)"',
        'PY=$(command -v python3 2>/dev/null)',
        'echo "$M python=$PY"',
        'if [ -n "$PY" ]; then',
        '  V=$("$PY" -c \'import sys; print("%d.%d.%d" % tuple(sys.version_info[:3]))\' 2>&1); echo "$M pyver_rc=$?"',
        '  echo "$M pyver=$(printf "%s" "$V" | tail -n 1)"',
    ]
    if check_nni:
        lines += [
            '  N=$("$PY" -c \'import nni; print(getattr(nni, "__version__", "unknown"))\' 2>&1); echo "$M nni_rc=$?"',
            '  echo "$M nni=$(printf "%s" "$N" | tail -n 1)"',
        ]
    lines.append("fi")
    return "\n".join(lines) + "\n"


def parse_probe_output(host: str, stdout: str, python_path: Optional[str] = None) -> ProbeResult:
    """Turn the script's output into a ProbeResult, or raise ProbeFailed saying what to fix."""
    facts: Dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith(MARK + " ") and "=" in line:
            key, _, value = line[len(MARK) + 1:].partition("=")
            facts[key] = value.strip()
    if "home" not in facts:
        raise ProbeFailed(host, f"the probe printed nothing usable (login shell broken?): {stdout[-300:]!r}")
    pp = facts.get("pp")
    if pp == "file":
        raise ProbeFailed(host, f"pythonPath {python_path!r} is a file; it must be the directory that "
                                f"contains python3 (e.g. the 'bin' directory of the environment)")
    if pp == "missing":
        raise ProbeFailed(host, f"pythonPath {python_path!r} does not exist on this machine")
    if pp == "nopython":
        raise ProbeFailed(host, f"pythonPath {python_path!r} has no executable python3 in it")
    python = facts.get("python", "")
    if not python:
        raise ProbeFailed(host, f"no python3 on PATH ({facts.get('path', '?')}); install Python >= "
                                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or set pythonPath to the directory that contains python3")
    version = _parse_version(facts.get("pyver", ""))
    if version is None or facts.get("pyver_rc", "0") != "0":
        raise ProbeFailed(host, f"{python} did not report its version: {facts.get('pyver', '')!r}")
    if version[:2] < MIN_PYTHON:
        raise ProbeFailed(host, f"{python} is Python {'.'.join(map(str, version))}; nni-remote needs Python >= "
                                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} (set pythonPath to a newer one's directory)")
    nni_ok = facts.get("nni_rc") == "0"
    return ProbeResult(
        host=host, home=facts["home"], uname=facts.get("uname", ""), path=facts.get("path", ""),
        python=python, python_version=version,
        nni_version=facts.get("nni") if nni_ok else None,
        nni_error=None if nni_ok or "nni_rc" not in facts else facts.get("nni", ""),
        disk_free_bytes=_parse_df(facts.get("df", "")))


def _parse_version(text: str) -> Optional[Tuple[int, int, int]]:
    parts = text.strip().split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
        micro = int("".join(ch for ch in parts[2] if ch.isdigit()) or 0) if len(parts) > 2 else 0
    except (ValueError, IndexError):
        return None
    return (major, minor, micro)


def _parse_df(line: str) -> Optional[int]:
    fields = line.split()
    try:
        return int(fields[3]) * 1024
    except (IndexError, ValueError):
        return None


def probe(conn: "SshConnection", python_path: Optional[str] = None, *, timeout: Optional[float] = None,
          check_nni: bool = True) -> ProbeResult:
    """Probe a machine with one command; raise ProbeFailed if it cannot run trials (see module doc)."""
    result = conn.run(probe_script(python_path, check_nni), timeout=timeout, check=False)
    return parse_probe_output(conn.name, result.stdout, python_path)
