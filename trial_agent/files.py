"""Reading a trial's files safely: the one rule every route follows, on the head and on workers.

A trial directory is written by code nobody reviewed. Whoever serves a file
from it (the portal's tail, NNI's ``trial-file`` route, the log routes; in
local mode the manager itself, in remote mode ``python3 agent.pyz read`` over
SSH) goes through :func:`read_range`, which:

- takes one plain name (no ``/``, no ``..``, no NUL) and opens it relative to
  a file descriptor of the directory (``openat``) with ``O_NOFOLLOW``: a
  symbolic link is refused, never followed, so ``x -> /etc/shadow`` or
  ``x -> /proc/<manager>/environ`` serve nothing;
- opens with ``O_NONBLOCK`` and accepts regular files only (``fstat``): a FIFO,
  socket or device is refused at once and can never block the reader;
- reads at most ``size`` bytes with ``pread`` (bounded, whatever the file's size).

Standard library only, Python 3.8+ (this module also runs on workers).
"""
from __future__ import annotations

import base64
import errno
import json
import os
import stat
import sys
from typing import Any, Dict, List, Optional, Tuple

MAX_READ = 16 * 1024 * 1024


class UnsafeFile(OSError):
    """The name is not a plain file of the directory (a link, a FIFO, a device, a path)."""


def check_name(name: str) -> None:
    """Raise UnsafeFile unless ``name`` is one plain component of a directory."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafeFile("%r is not a file name in the trial's directory" % (name,))


def _open_dir(directory: str) -> int:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(directory, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and os.path.islink(directory)):
            raise UnsafeFile("the trial directory %s is a symbolic link: refused" % directory)
        raise


def read_range(directory: str, name: str, size: int, start: Optional[int] = None) -> Tuple[bytes, int, int]:
    """``(data, file size, offset of data)``: the last ``size`` bytes, or ``size`` bytes from ``start``.

    Raises FileNotFoundError (not written yet) or UnsafeFile (see the module docstring).
    """
    check_name(name)
    size = max(0, min(int(size), MAX_READ))
    dfd = _open_dir(directory)
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_NOCTTY", 0), dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the name is a symbolic link
                raise UnsafeFile("%s is a symbolic link: refused (only regular files are served)" % name)
            if exc.errno == errno.ENXIO:  # a socket
                raise UnsafeFile("%s is not a regular file: refused" % name)
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeFile("%s is not a regular file: refused" % name)
            total = info.st_size
            begin = max(total - size, 0) if start is None else min(max(int(start), 0), total)
            parts: List[bytes] = []
            got = 0
            while got < size:
                piece = os.pread(fd, min(size - got, 1 << 20), begin + got)
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
            return b"".join(parts), max(total, begin + got), begin
        finally:
            os.close(fd)
    finally:
        os.close(dfd)


def list_files(directory: str) -> List[Dict[str, Any]]:
    """``[{"name", "size"}]`` of the regular, non-hidden files of ``directory`` (links are skipped)."""
    dfd = _open_dir(directory)
    try:
        out: List[Dict[str, Any]] = []
        for name in sorted(os.listdir(dfd)):
            if name.startswith("."):
                continue
            try:
                info = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                out.append({"name": name, "size": info.st_size})
        return out
    finally:
        os.close(dfd)


def main(argv: List[str]) -> int:
    """``read DIR NAME SIZE START|tail`` or ``ls DIR``: one JSON line on stdout (data base64)."""
    try:
        if len(argv) == 5 and argv[0] == "read":
            start = None if argv[4] == "tail" else int(argv[4])
            data, total, begin = read_range(argv[1], argv[2], int(argv[3]), start)
            reply: Dict[str, Any] = {"size": total, "offset": begin,
                                     "data": base64.b64encode(data).decode("ascii")}
        elif len(argv) == 2 and argv[0] == "ls":
            reply = {"files": list_files(argv[1])}
        else:
            sys.stderr.write("usage: agent.pyz read DIR NAME SIZE START|tail  |  agent.pyz ls DIR\n")
            return 2
    except FileNotFoundError:
        reply = {"error": "missing"}
    except UnsafeFile as exc:
        reply = {"error": "unsafe", "message": str(exc)}
    except (OSError, ValueError) as exc:
        reply = {"error": "failed", "message": str(exc)}
    sys.stdout.write(json.dumps(reply) + "\n")
    return 0
