"""The trial agent's runner and metric channels, with real trial processes."""
from __future__ import annotations

import json
import os
import sys
import time

import pytest

from trial_agent.metrics import EventSpool, parse_metrics_file, parse_stdout_line
from trial_agent.runner import TrialRunner, _metric_event

SHIM = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                    "trial_agent")
TRIAL = """
import nni, sys, time
p = nni.get_next_parameter()
for i in range(3):
    nni.report_intermediate_result(p["x"] * i)
nni.report_final_result({"default": p["x"], "note": "it's fine"})
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def test_parsers_handle_quotes_partial_frames_and_garbage():
    assert parse_stdout_line("NNISDK_MEb'{\"value\": \"it's\"}'") == '{"value": "it\'s"}'
    assert parse_stdout_line("plain output") is None
    frame = b'ME%06d{"a": 1}\n' % len(b'{"a": 1}\n')
    records, rest = parse_metrics_file(b"junk" + frame + frame[:5])
    assert records == ['{"a": 1}'] and rest == frame[:5]
    records, rest = parse_metrics_file(rest + frame[5:])
    assert records == ['{"a": 1}'] and rest == b""


def test_spool_survives_a_restart_and_drops_a_torn_line(tmp_path):
    spool = EventSpool(str(tmp_path))
    for i in range(3):
        spool.append({"type": "metric", "n": i})
    spool.ack(2)
    spool.close()
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('{"type": "metr')           # a crash in the middle of a write
    again = EventSpool(str(tmp_path))
    assert [e["seq"] for e in again.unacked()] == [2]
    assert again.append({"type": "end"})["seq"] == 3 and again.has("end") and again.has("metric")
    again.extend([("metric", "[", ',"PERIODICAL",0,1,"1"]')], offsets={"metrics": 42})
    again.ack(4)
    again.close()
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('[5,"PERIOD')                 # torn again: the next agent's lines must not join it
    third = EventSpool(str(tmp_path))
    assert third.count == 5 and third.acked == 4 and third.offsets == {"metrics": 42}
    third.append({"type": "end"})
    third.close()
    assert [e if isinstance(e, list) else e["seq"] for e in EventSpool(str(tmp_path)).events] == [
        0, 1, 2, 3, [4, "PERIODICAL", 0, 1, "1"], 5]


def test_an_ack_file_of_an_earlier_agent_counts(tmp_path):
    spool = EventSpool(str(tmp_path))
    for i in range(3):
        spool.append({"type": "metric", "n": i})
    spool.close()
    (tmp_path / "acked").write_text("2")
    assert EventSpool(str(tmp_path)).acked == 2


def test_a_record_that_is_not_a_metric_row_travels_as_an_object(tmp_path):
    spool = EventSpool(str(tmp_path))
    spool.extend([e for e in (_metric_event(t, 5) for t in [
        '{"type": "PERIODICAL", "sequence": 2, "parameter_id": "3", "value": "{\\"a\\": \\"\u00e9\\\\n\\"}"}',
        '{"type": "FINAL", "value": 0.5}', '{"type": "REQUEST_PARAMETER"}', '{"type": "OTHER"}', 'not json']) if e])
    assert spool.events == [[0, "PERIODICAL", 2, "3", '{"a": "\u00e9\\n"}'], [1, "FINAL", 0, None, "0.5"],
                            {"type": "metric", "record": {"type": "OTHER"}, "time": 5, "seq": 2},
                            {"type": "metric", "metric": "not json", "time": 5, "seq": 3}]
    assert json.loads(spool.unacked_json()) == spool.events and "\n" not in "".join(spool.lines)


def spec(tmp_path, platform="local", python=sys.executable, args=""):
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "trial.py").write_text(TRIAL)
    return {"trial_id": "Abcde", "sequence_id": 4, "experiment_id": "exp1", "platform": platform,
            "parameter": json.dumps({"parameter_id": 7, "parameter_source": "algorithm", "parameters": {"x": 2.0},
                                     "parameter_index": 0}),
            "command": f"{python} trial.py {args}", "working_dir": str(code), "trial_dir": str(tmp_path / "t"),
            "gpus": None}


def run_to_end(runner, timeout=60):
    deadline = time.time() + timeout
    while not runner.finished:
        runner.poll()
        assert time.time() < deadline, "trial did not end"
        time.sleep(0.01)
    return runner.spool.events


def metric_values(events):
    """The values of the compact metric rows ``[seq, type, sequence, parameter_id, value_text]``."""
    rows = [e for e in events if isinstance(e, list)]
    assert [r[0] for r in rows] == [events.index(r) for r in rows]    # each row's seq is its place
    assert [r[1] for r in rows] == ["PERIODICAL"] * (len(rows) - 1) + ["FINAL"] * bool(rows)
    assert [r[2] for r in rows[:-1]] == list(range(len(rows) - 1)) and {r[3] for r in rows} <= {7}
    return [json.loads(r[4]) for r in rows]     # the trial's JSON text, not decoded by the agent


@pytest.mark.parametrize("platform", ["local", "remote"])
def test_shim_trial_reports_through_the_metrics_file(tmp_path, platform):
    runner = TrialRunner(spec(tmp_path, platform), shim_dir=SHIM)
    runner.start()
    events = run_to_end(runner)
    assert events[0]["type"] == "status" and events[-1] == {**events[-1], "type": "end", "exit_code": 0}
    assert metric_values(events) == [0.0, 2.0, 4.0, {"default": 2.0, "note": "it's fine"}]


def test_real_nni_with_stdout_markers(tmp_path):
    python = os.environ.get("NNI_REMOTE_REAL_NNI_PYTHON")
    if not python:
        pytest.skip("set NNI_REMOTE_REAL_NNI_PYTHON to a Python with nni==3.0 (.ci/run creates one)")
    runner = TrialRunner(spec(tmp_path, "remote", python), shim_dir=SHIM)   # remote: NNISDK_MEb'...' on stdout
    runner.start()
    events = run_to_end(runner)
    assert metric_values(events) == [0.0, 2.0, 4.0, {"default": 2.0, "note": "it's fine"}]


def test_kill_and_reattach_after_an_agent_restart(tmp_path):
    first = TrialRunner(spec(tmp_path, args="30"), shim_dir=SHIM)
    first.start()
    deadline = time.time() + 30
    while len(metric_values(first.spool.events)) < 4:
        first.poll()
        assert time.time() < deadline
        time.sleep(0.01)
    first.spool.close()                      # the agent dies; the trial runs on
    second = TrialRunner(spec(tmp_path, args="30"), shim_dir=SHIM)
    assert second.attach() and second.pid == first.pid
    second.kill("user", grace=5)
    events = run_to_end(second)
    assert events[-1]["killed"] == "user" and events[-1]["exit_code"] is None
    assert len(metric_values(events)) == 4   # nothing read twice after the restart
    first.proc.wait()


def test_trial_id_is_the_rest_id_on_every_attempt(tmp_path):
    s = spec(tmp_path)
    s.update(run_id="Abcde.3", attempt=3)
    runner = TrialRunner(s, shim_dir=SHIM)
    env = runner._environment()
    assert env["NNI_TRIAL_JOB_ID"] == "Abcde" and env["NNI_REMOTE_TRIAL_ATTEMPT"] == "4"
