"""Pure formatting of the CLI and the REST bodies: nnictl's CSV, JavaScript's JSON, the server's error text."""
from __future__ import annotations

import csv
import io

import requests

from nni_remote import compact_json
from nni_remote.exports import to_csv as _to_csv
from nni_remote.client import _message


def test_csv_writes_nested_parameters_as_nnictl_does():
    records = [{"parameter": {"x": 0.5, "opt": {"_name": "adam", "lr": 0.1}}, "value": "0.9", "trialJobId": "A"},
               {"parameter": {"x": 0.25, "opt": {"_name": "sgd"}}, "value": '{"default": 0.5, "loss": 1}',
                "trialJobId": "B", "intermediate": ["0.1", "0.2"]}]
    rows = list(csv.DictReader(io.StringIO(_to_csv(records, intermediate=True))))
    # nnictl: {**record['parameter'], ...} through csv.DictWriter, i.e. str() of the nested dict
    assert rows[0]["opt"] == str({"_name": "adam", "lr": 0.1}) == "{'_name': 'adam', 'lr': 0.1}"
    assert rows[0]["reward"] == "0.9" and rows[1]["default"] == "0.5" and rows[1]["loss"] == "1"
    assert rows[1]["intermediate"] == "[0.1,0.2]" and list(rows[0])[0] == "intermediate"   # nnictl puts it first


def test_js_serialisation_matches_node():
    # (value, String(value) in Node.js 18)
    for value, text in [(1.0, "1"), (0.0625, "0.0625"), (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (1e-6, "0.000001"),
                        (1e16, "10000000000000000"), (1e21, "1e+21"), (12345678901234567890.0, "12345678901234567000"),
                        (-2.5e-10, "-2.5e-10"), (0.3442145439813062, "0.3442145439813062"), (5e-324, "5e-324")]:
        assert compact_json.js_number(value) == text
    assert compact_json.dumps({"a": [1.0, 1e-7, "é", float("nan")], "b": {"c": 2}}) == '{"a":[1,1e-7,"é",null],"b":{"c":2}}'


def _response(status: int, body: str, content_type: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content = status, body.encode()
    resp.headers["Content-Type"] = content_type
    return resp


def test_error_text_is_the_cause_never_an_html_page():
    page = "<!doctype html><html><head><title>500 Internal Server Error</title></head><body>...</body></html>"
    text = _message(_response(500, page, "text/html"))
    assert "<" not in text and "500 Internal Server Error" in text and "nnimanager.log" in text
    assert _message(_response(400, '{"error":"tuner refused","cause":"no string choices"}', "application/json")) \
        == "tuner refused: no string choices"
    assert _message(_response(400, '{"error":"tuner refused"}', "application/json")) == "tuner refused"
