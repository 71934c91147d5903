"""Process identity: a recorded pid is trusted and signalled only while it is the same process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from trial_agent import procid
from trial_agent.cleanup import agent_alive, cleanup


def test_identity_detects_a_different_process_on_the_same_pid(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        info = procid.identity(proc.pid)
        assert procid.is_same(info)
        recycled = dict(info, start=str(int(info["start"]) - 1))     # same pid, another start time
        assert not procid.is_same(recycled)
        assert not procid.signal_if_same(recycled, signal.SIGKILL, group=True)
        assert proc.poll() is None, "a process that only shares the pid was signalled"
        assert not procid.is_same(dict(info, boot="another-boot"))
        assert procid.signal_if_same(info, signal.SIGKILL, group=True)
        proc.wait(timeout=10)
        assert not procid.is_same(info)                              # gone (reaped) or a zombie: not alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cleanup_ends_daemonised_processes_by_marker_and_spares_others(tmp_path):
    mark = "t" * 24
    code = ("import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(60)\n"
            "    os._exit(0)\n")
    env = dict(os.environ, **{procid.MARK_VAR: mark})
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        deadline = time.time() + 10
        while not procid.find_members(marks=[mark]) and time.time() < deadline:
            time.sleep(0.05)
        daemons = procid.find_members(marks=[mark])
        assert daemons and bystander.pid not in daemons
        run_dir = tmp_path / "trials" / "Abcde" / ".agent"
        run_dir.mkdir(parents=True)
        (run_dir / "pid.json").write_text('{"pid": %d, "start": "1", "mark": "%s"}' % (bystander.pid, mark))
        (tmp_path / "agent").mkdir()
        (tmp_path / "agent" / "agent.pid").write_text('{"pid": %d, "start": "1"}' % bystander.pid)
        assert not agent_alive(str(tmp_path / "agent"))              # pid matches, start time does not
        report = cleanup(str(tmp_path), wait=5)
        assert report["left"] == [] and report["marked"] >= 1 and not report["agent"] and report["groups"] == 0
        assert bystander.poll() is None, "cleanup killed a process that only reused a recorded pid"
        assert (tmp_path / "agent" / "stopped").exists()
    finally:
        bystander.kill()
        bystander.wait()
