"""Agent event batches: duplicates and gaps by the next seq expected, compact metric rows, the hub end to end."""
from __future__ import annotations

import json

from nni_remote.manager import ingest
from nni_remote.manager.trials import Trial
from tests.unit.manager.test_agent_hub import ctl, submit_and_place  # noqa: F401  (the fixture)


def row(seq: int, sequence: int, value: object, kind: str = "PERIODICAL", pid: object = 0) -> list[object]:
    return [seq, kind, sequence, pid, json.dumps(value)]


def test_fresh_skips_what_was_stored_and_stops_at_a_gap():
    events = [row(s, s, s) for s in (3, 4, 4, 5, 7, 8)]
    new, expected = ingest.fresh(events, 4)
    assert [e[0] for e in new] == [4, 5] and expected == 6       # 3: stored before; the second 4: the same event
    assert ingest.fresh(events, 9) == ([], 9)                    # all of it again: nothing new
    assert ingest.fresh("not a list", 2) == ([], 2)
    assert ingest.acked_unowned(events) == 9 and ingest.acked_unowned([]) == 0


def test_metric_rows_and_objects_become_the_same_store_row():
    trial = Trial(id="Abc", seq=0, parameter="{}", parameter_id=1, source="algorithm", submit_time=1)
    text = json.dumps({"default": 0.5, "loss": float("nan")})
    by_row = ingest.metric_row(trial, [7, "PERIODICAL", 3, 1, text], now=11)
    record = {"type": "PERIODICAL", "sequence": 3, "parameter_id": 1, "value": text}
    by_object = ingest.metric_row(trial, {"type": "metric", "record": record, "seq": 7}, now=11)
    by_text = ingest.metric_row(trial, {"type": "metric", "metric": json.dumps(record), "seq": 7}, now=11)
    assert by_row[0] == by_object[0] == by_text[0] == (11, "Abc", "1", "PERIODICAL", 3, json.dumps(text))
    assert by_row[1]["default"] == 0.5 and by_row[1]["loss"] != by_row[1]["loss"]     # NaN, as json.loads
    assert ingest.metric_row(trial, [1, "FINAL", 0, None, "not json"], now=1)[1] is None
    assert ingest.metric_row(trial, [1, "OTHER", 0, None, "1"], now=1) is None
    assert ingest.metric_row(trial, [1, "FINAL"], now=1) is None                      # short: logged, dropped
    assert ingest.deciding([1, "FINAL", 0, None, "1"]) and not ingest.deciding(row(1, 0, 1))
    assert ingest.deciding({"type": "metric", "record": {"type": "FINAL"}}) and ingest.deciding({"type": "end"})


def test_a_resent_batch_and_a_batch_after_a_gap_store_each_metric_once(ctl):  # noqa: F811
    [trial] = submit_and_place(ctl, 1)
    rid, machine = trial.id, trial.machine
    status = {"seq": 0, "type": "status", "status": "RUNNING", "pid": 4, "time": trial.submit_time + 1}
    first = [status] + [row(s, s - 1, s) for s in range(1, 5)]
    assert ctl.hub.events({"trials": {rid: first}}, machine) == {"acked": {rid: 5}}
    resent = [status] + [row(s, s + 100, s) for s in range(1, 5)]    # the same seqs: stored, whatever they say
    assert ctl.hub.events({"trials": {rid: resent}}, machine) == {"acked": {rid: 5}}    # its answer was lost
    later = [row(s, s - 1, s) for s in range(7, 9)]                                      # 5 and 6 missing
    assert ctl.hub.events({"trials": {rid: later}}, machine) == {"acked": {rid: 5}}     # send again from 5
    rest = [row(s, s - 1, s) for s in range(3, 9)] + [[9, "FINAL", 0, 0, "9"], {"seq": 10, "type": "end",
                                                                                  "exit_code": 0}]
    assert ctl.hub.events({"trials": {rid: rest}}, machine) == {"acked": {rid: 11}}
    metrics = ctl.store.metrics(trial_id=trial.id)
    assert [(m["type"], m["sequence"]) for m in metrics] == [("PERIODICAL", s) for s in range(8)] + [("FINAL", 0)]
    assert [json.loads(json.loads(m["data"])) for m in metrics] == list(range(1, 10))
    assert trial.status == "SUCCEEDED" and ctl.store.next_seqs([rid]) == {rid: 11}
