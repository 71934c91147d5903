"""The OpenAPI 3 document of every route the manager serves.

Served at ``/api/v1/nni-remote/openapi.json``. NNI's routes are described with
NNI's shapes (NNI-REFERENCE §3.3), quirks included: metric ``data`` is a JSON
text of a JSON text, ``hyperParameters`` is a list of JSON strings,
``parameterId`` is a string, times are epoch milliseconds except
``execDuration`` (seconds). Where nni-remote answers better than NNI the
description says so (unknown trial: 404; read-only: 403; bad update: 400).
"""
from __future__ import annotations

from typing import Any

NNI = "/api/v1/nni"
OURS = "/api/v1/nni-remote"
STATUSES = ["INITIALIZED", "RUNNING", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL", "DONE", "ERROR", "STOPPING",
            "STOPPED", "VIEWED"]
TRIAL_STATUSES = ["UNKNOWN", "WAITING", "RUNNING", "SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED",
                  "EARLY_STOPPED"]


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
ANY: dict[str, Any] = {}
OBJECT = {"type": "object"}

SCHEMAS: dict[str, Any] = {
    "Error": obj(["error"], error=STR),
    "CheckStatus": obj(["status", "errors"], status={"type": "string", "enum": STATUSES}, errors=array(STR)),
    "ExperimentProfile": obj(
        ["params", "id", "execDuration", "logDir", "startTime", "nextSequenceId", "revision"],
        params={**OBJECT, "description": "the canonical config (camelCase), NNI-REFERENCE §1.11"},
        id=STR, execDuration={**INT, "description": "seconds"}, logDir=STR,
        startTime={**INT, "description": "epoch ms"}, endTime={**INT, "description": "epoch ms; absent while running"},
        nextSequenceId=INT, revision=INT),
    "ProfileUpdate": {**obj(["params"], params=OBJECT),
                      "description": "the profile as GET /experiment returned it (only params.<field> is read)"},
    "RegistryEntry": {**obj(["id", "status"], id=STR, port=nullable(INT), startTime=INT,
                            endTime={"anyOf": [INT, {"type": "string", "enum": ["N/A"]}]}, status=STR,
                            platform=nullable(STR), experimentName=nullable(STR), tag=array(STR),
                            pid=nullable(INT), webuiUrl=array(STR), logDir=nullable(STR), prefixUrl=nullable(STR)),
                      "description": "an entry of ~/nni-experiments/.experiment (NNI-REFERENCE §2.7)"},
    "MetricDataRecord": obj(["timestamp", "trialJobId", "parameterId", "type", "sequence", "data"],
                            timestamp=INT, trialJobId=STR, parameterId=nullable(STR),
                            type={"type": "string", "enum": ["FINAL", "PERIODICAL"]}, sequence=INT,
                            data={**STR, "description": "JSON text of the trial's JSON text, e.g. \"\\\"0.93\\\"\""}),
    "TrialJobInfo": obj(["trialJobId", "status", "hyperParameters", "startTime", "sequenceId"],
                        trialJobId=STR, status={"type": "string", "enum": TRIAL_STATUSES},
                        hyperParameters={**array(STR), "description": "packed parameter records as JSON strings"},
                        startTime=INT, endTime=INT, sequenceId=INT, logPath=STR, envId=STR,
                        finalMetricData={**array(ref("MetricDataRecord")), "description": "SUCCEEDED only"},
                        stderrPath={**STR, "description": "FAILED only"}, message=STR,
                        machine={**nullable(STR), "description": "nni-remote: the machine it runs on"},
                        gpus={**nullable(array(INT)), "description": "nni-remote: its GPU indices"}),
    "JobStatistic": obj(["trialJobStatus", "trialJobNumber"], trialJobStatus=STR, trialJobNumber=INT),
    "ImportRecord": obj(["parameter", "value"], parameter=OBJECT,
                        value={"description": "a number, a dict with 'default', or their JSON text"}),
    "ExportRecord": obj(["parameter", "value", "trialJobId"], parameter=ANY,
                        value={**STR, "description": "the metric's JSON text"}, trialJobId=STR),
    "SequenceId": obj(["sequenceId"], sequenceId=INT),
    "ExperimentId": obj(["experiment_id"], experiment_id=STR),
    "TensorboardTask": obj(["id", "status", "trialJobIdList", "trialLogDirectoryList"], id=STR, status=STR,
                           trialJobIdList=array(STR), trialLogDirectoryList=array(STR), pid=INT, port=INT),
    "Overview": obj(["id", "status", "errors", "execDuration", "submittedTrials", "trialCounts", "bestTrials"],
                    id=STR, experimentName=nullable(STR), status=STR, errors=array(STR), readonly=BOOL,
                    platform=nullable(STR), startTime=nullable(INT), endTime=nullable(INT), execDuration=INT,
                    maxExperimentDuration=ANY, maxExperimentDurationSeconds=nullable(INT),
                    maxTrialNumber=nullable(INT), trialConcurrency=nullable(INT), maxTrialDuration=ANY,
                    submittedTrials=INT, finishedTrials=INT,
                    trialCounts={"type": "object", "additionalProperties": INT},
                    optimizeMode={"type": "string", "enum": ["maximize", "minimize"]}, logDir=STR, port=INT,
                    bestTrials=array(obj(["trialJobId", "value"], trialJobId=STR, sequenceId=INT, value=NUM,
                                         parameters=ANY))),
    "Trial": obj(["trialJobId", "sequenceId", "status", "parameters"],
                 trialJobId=STR, sequenceId=INT, status=STR, parameters=ANY, parameterSource=STR,
                 finalMetric={"description": "the final metric as the trial reported it (number or dict)"},
                 finalScalar={**nullable(NUM), "description": "the number a tuner sees (value or value['default'])"},
                 submitTime=INT, startTime=nullable(INT), endTime=nullable(INT),
                 duration={**nullable(NUM), "description": "seconds"}, machine=nullable(STR),
                 gpus=nullable(array(INT)),
                 message={**STR, "description": "why a WAITING trial waits, or why it ended"},
                 attempt=INT, exitCode=nullable(INT), logPath=STR, intermediateCount=INT),
    "TrialDetail": {"allOf": [ref("Trial"), obj([], intermediate=array(obj(["sequence", "value"], sequence=INT,
                                                                            value=ANY, scalar=nullable(NUM))),
                                                 hyperParameters=array(STR), address=nullable(STR))]},
    "TrialFiles": obj(["trialJobId", "files"], trialJobId=STR, machine=nullable(STR), directory=nullable(STR),
                      listed={**BOOL, "description": "false: the machine cannot list; the usual names are given"},
                      files=array(obj(["name"], name=STR, size=nullable(INT)))),
    "FileTail": obj(["trialJobId", "name", "exists", "size", "offset", "next", "truncated", "text"], trialJobId=STR,
                    name=STR, exists={**BOOL, "description": "false: the trial has not written it (yet)"},
                    size={**INT, "description": "the whole file's size"},
                    offset={**INT, "description": "where text begins in the file"},
                    next={**INT, "description": "where it ends: the offset to ask for next"}, truncated=BOOL,
                    text=STR),
    "Retry": obj(["from", "sequenceId"], **{"from": STR, "sequenceId": INT, "trialJobId": nullable(STR)}),
    "RetryFailed": obj(["retried"], retried=array(ref("Retry")), error=STR),
    "Machine": obj(["name", "state", "drained", "runningTrials"],
                   name=STR, address=STR, state={"type": "string",
                                                 "enum": ["starting", "ready", "lost", "failed", "drained"]},
                   error=nullable(STR), errors=array(STR), drained=BOOL, since=nullable(INT),
                   lastHeartbeat={**nullable(INT), "description": "epoch ms of the agent's last sync"},
                   slots=INT, runningTrials=array(STR),
                   gpus={**nullable(array(OBJECT)), "description": "as the agent's nvidia-smi reports them"},
                   assignedGpus={"type": "object", "additionalProperties": array(INT)},
                   gpuIndices=nullable(array(INT)), startFailures=INT, agent=OBJECT, details=OBJECT),
}


def json_body(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def empty(description: str = "done (empty body, NNI's answer)") -> dict[str, Any]:
    return {"description": description}


def err(description: str) -> dict[str, Any]:
    return json_body(ref("Error"), description)


def text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": STR}}}


def path_param(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STR, "description": description}


def query(name: str, schema: dict[str, Any], description: str = "", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


PAGE_PARAMS = [
    query("offset", {"type": "integer", "minimum": 0}, "skip this many items (after filtering and sorting)"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "at most this many items"),
    query("sort", {"type": "string"}, "a field (sequenceId, status, startTime, duration, finalScalar, ...) or "
                                      "metric:<key>; prefix - for descending; items without a value last"),
    query("status", {"type": "string"}, "only these statuses (comma-separated)"),
    query("q", {"type": "string"}, "only items whose id, parameters, machine, message or final metric contain this"),
]


def op(summary: str, responses: dict[Any, Any], *, params: Any = (), body: Any = None, tag: str = "nni",
       security: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {str(k): v for k, v in responses.items()}}
    if params:
        out["parameters"] = list(params)
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if security is not None:
        out["security"] = security
    return out


NOT_READY = {409: err("the experiment is still initializing (no config posted yet)")}
TRIAL_ID = path_param("trialJobId", "a trial id (5 characters)")
UPDATE_TYPES = ["TRIAL_CONCURRENCY", "MAX_EXEC_DURATION", "SEARCH_SPACE", "MAX_TRIAL_NUM"]


def nni_paths() -> dict[str, Any]:
    p: dict[str, Any] = {}
    p["/version"] = {"get": op("the manager's version as bare text (NNI: not valid JSON, served as JSON)",
                               {200: json_body(STR)})}
    p["/check-status"] = {"get": op("experiment status and errors; the plain text INITIALIZING while booting. "
                                    "Never needs the access token.",
                                    {200: {"description": "status", "content": {
                                        "application/json": {"schema": ref("CheckStatus")},
                                        "text/plain": {"schema": {"type": "string", "enum": ["INITIALIZING"]}}}}},
                                    security=[{}])}
    p["/experiment"] = {
        "get": op("the experiment profile", {200: json_body(ref("ExperimentProfile")), **NOT_READY}),
        "put": op("change one setting: GET the profile, change params.<field>, PUT it back",
                  {200: empty(), 400: err("unknown update_type or an invalid value (NNI stored anything)"),
                   403: err("read-only (viewed) experiment"), **NOT_READY},
                  params=[query("update_type", {"type": "string", "enum": UPDATE_TYPES},
                                "TRIAL_CONCURRENCY → trialConcurrency, MAX_EXEC_DURATION → maxExperimentDuration, "
                                "SEARCH_SPACE → searchSpace, MAX_TRIAL_NUM → maxTrialNumber", required=True)],
                  body=ref("ProfileUpdate")),
        "post": op("start a created experiment with its canonical config (once, by the launcher)",
                   {200: json_body({"anyOf": [ref("ExperimentId"), STR]}, "create: the id; resume/view: empty"),
                    400: err("invalid config"), 409: err("already running")}, body=OBJECT),
        "delete": op("stop the experiment (trials killed, state saved); the manager then exits",
                     {200: empty()}),
    }
    p["/experiment-metadata"] = {"get": op("this experiment's registry entry", {200: json_body(ref("RegistryEntry"))})}
    p["/experiments-info"] = {"get": op("every registry entry (dead managers shown STOPPED)",
                                        {200: json_body(array(ref("RegistryEntry")))})}
    p["/experiment/import-data"] = {"post": op(
        "give the tuner finished results", {200: empty(), 400: err("not a list of {parameter, value}"),
                                            403: err("read-only"), **NOT_READY}, body=array(ref("ImportRecord")))}
    p["/experiment/imported-data"] = {"get": op("every import, as the JSON text that was posted",
                                                {200: json_body(array(STR)), **NOT_READY})}
    p["/experiment/cluster-metadata"] = {"put": op(
        "legacy kubeflow setting: {} is accepted, anything else refused", {200: empty(), 400: err("not used")},
        body=OBJECT)}
    p["/job-statistics"] = {"get": op("trial counts per status present",
                                      {200: json_body(array(ref("JobStatistic"))), **NOT_READY})}
    p["/trial-jobs"] = {
        "get": op("every trial", {200: json_body(array(ref("TrialJobInfo"))), **NOT_READY},
                  params=[query("status", STR, "only trials with this status (unknown: [])")]),
        "post": op("add a customized trial with these parameters",
                   {200: json_body(ref("SequenceId")), 400: err("maxTrialNumber reached, or not an object"),
                    403: err("read-only"), **NOT_READY}, body=OBJECT),
    }
    p["/trial-jobs/{trialJobId}"] = {
        "parameters": [TRIAL_ID],
        "get": op("one trial", {200: json_body(ref("TrialJobInfo")),
                                404: err("no such trial (NNI: an empty 200)"), **NOT_READY}),
        "delete": op("kill a trial (USER_CANCELED)", {200: empty(), 404: err("no such trial"),
                                                      403: err("read-only"), **NOT_READY}),
    }
    metric_type = query("type", {"type": "string", "enum": ["FINAL", "PERIODICAL"]})
    p["/metric-data"] = {"get": op("every metric record (streamed), or a page of them with offset/limit (not NNI's)",
                                   {200: json_body(array(ref("MetricDataRecord"))), **NOT_READY},
                                   params=[metric_type, *PAGE_PARAMS[:2]])}
    p["/metric-data/{trialJobId}"] = {"parameters": [TRIAL_ID], "get": op(
        "one trial's metric records (unknown trial: [])", {200: json_body(array(ref("MetricDataRecord"))),
                                                           **NOT_READY}, params=[metric_type])}
    p["/metric-data-range/{minSeqId}/{maxSeqId}"] = {
        "parameters": [path_param("minSeqId"), path_param("maxSeqId")],
        "get": op("metrics of trials whose sequenceId is in [min, max] (not numbers: [])",
                  {200: json_body(array(ref("MetricDataRecord"))), **NOT_READY})}
    p["/metric-data-latest"] = {"get": op("every FINAL record plus the latest PERIODICAL of each trial",
                                          {200: json_body(array(ref("MetricDataRecord"))), **NOT_READY})}
    p["/trial-file/{trialJobId}/{filename}"] = {
        "parameters": [TRIAL_ID, path_param("filename", "trial.log, stdout, stderr or another file of the trial")],
        "get": op("a file of the trial's directory; an empty one gives the text '<filename> is empty.'",
                  {200: {"description": "the file", "content": {"text/plain": {"schema": STR},
                                                                 "application/octet-stream": {"schema": STR}}},
                   404: err("no such trial or file"), 502: err("the trial's machine could not be read"),
                   **NOT_READY})}
    p["/export-data"] = {"get": op("parameters and final metric of every SUCCEEDED trial",
                                   {200: json_body(array(ref("ExportRecord"))), **NOT_READY})}
    unsupported = err("tensorboard is not supported by nni-remote")
    p["/tensorboard"] = {"post": op("start tensorboard (not supported)", {400: unsupported},
                                    body=obj([], trials=STR))}
    p["/tensorboard/{taskId}"] = {"parameters": [path_param("taskId")],
                                  "get": op("a tensorboard task (not supported)", {404: unsupported}),
                                  "put": op("restart a tensorboard task (not supported)", {404: unsupported}),
                                  "delete": op("stop a tensorboard task (not supported)", {404: unsupported})}
    p["/tensorboard-tasks"] = {"get": op("tensorboard tasks (always none)",
                                         {200: json_body(array(ref("TensorboardTask")))}),
                               "delete": op("stop every tensorboard task", {200: empty()})}
    return {NNI + k: v for k, v in p.items()}


def our_paths() -> dict[str, Any]:
    t = "nni-remote"
    p: dict[str, Any] = {}
    p["/openapi.json"] = {"get": op("this document", {200: json_body(OBJECT)}, tag=t)}
    p["/overview"] = {"get": op("status, budget, counts and best trials in one call",
                                {200: json_body(ref("Overview")), **NOT_READY}, tag=t)}
    p["/trials"] = {"get": op("every trial, decoded (parameters object, final metric value, machine, GPUs, "
                              "why waiting); a page of them with offset/limit (X-Total-Count: how many matched, "
                              "X-Trials-Count: all trials, X-Metric-Keys: the final metrics' numeric keys)",
                              {200: json_body(array(ref("Trial"))), 400: err("a paging argument is invalid"),
                               **NOT_READY}, params=PAGE_PARAMS, tag=t)}
    p["/trials/{trialJobId}"] = {"parameters": [TRIAL_ID], "get": op(
        "one trial with its intermediate metrics", {200: json_body(ref("TrialDetail")), 404: err("no such trial"),
                                                    **NOT_READY}, tag=t)}
    p["/trials/{trialJobId}/files"] = {"parameters": [TRIAL_ID], "get": op(
        "the files in the trial's directory and where it is", {200: json_body(ref("TrialFiles")),
                                                               404: err("no such trial"),
                                                               502: err("the machine could not list them"),
                                                               **NOT_READY}, tag=t)}
    p["/trials/{trialJobId}/tail/{filename}"] = {
        "parameters": [TRIAL_ID, path_param("filename", "stdout, stderr, trial.log or another file name")],
        "get": op("the end of one of the trial's files", {200: json_body(ref("FileTail")),
                                                          400: err("bad file name or bytes"),
                                                          404: err("no such trial, or it has not started"),
                                                          502: err("the machine could not be read"), **NOT_READY},
                  params=[query("bytes", {"type": "integer", "minimum": 1, "maximum": 1048576},
                                "how many bytes (default 65536)"),
                          query("offset", {"type": "integer", "minimum": 0},
                                "read from this offset instead of the end (follow: the previous size)")], tag=t)}
    p["/trials/{trialJobId}/retry"] = {"parameters": [TRIAL_ID], "post": op(
        "run a finished trial's parameters again as a new customized trial",
        {200: json_body(ref("Retry")), 400: err("maxTrialNumber reached"), 403: err("read-only"),
         404: err("no such trial"), 409: err("the trial is still waiting or running")}, tag=t)}
    p["/trials/retry-failed"] = {"post": op(
        "retry every FAILED trial not retried before", {200: json_body(ref("RetryFailed")),
                                                        400: json_body(ref("RetryFailed"), "maxTrialNumber reached"),
                                                        403: err("read-only"), **NOT_READY}, tag=t)}
    p["/machines"] = {"get": op("each machine: state, running trials, GPUs, last heartbeat, errors, drained",
                                {200: json_body(array(ref("Machine"))), **NOT_READY}, tag=t)}
    p["/machines/{name}/enable"] = {"parameters": [path_param("name", "machine name")], "post": op(
        "put a drained machine back into service", {200: json_body(ref("Machine")), 403: err("read-only"),
                                                    404: err("no such machine"), 409: err("not drained")}, tag=t)}
    p.update(insights_paths(t))
    return {OURS + k: v for k, v in p.items()}


def whole(name: str, high: int, description: str) -> dict[str, Any]:
    return query(name, {"type": "integer", "minimum": 1, "maximum": high}, description)


def insights_paths(t: str) -> dict[str, Any]:
    """The portal's summaries (server/insights.py) and sampled chart series (server/series.py)."""
    key = query("key", STR, "metric key of dict metrics (default: default)")
    return {
        "/insights/summary": {"get": op("metric keys, and value and best-so-far per finished trial (thinned)",
                                        {200: json_body(OBJECT), **NOT_READY}, params=[key], tag=t)},
        "/insights/config": {"get": op("the config, read-only, secrets masked, and the search space",
                                       {200: json_body(obj(["config"], config=OBJECT, searchSpace=ANY)),
                                        **NOT_READY}, tag=t)},
        "/insights/importance": {"get": op(
            "per-parameter importance (PED-ANOVA) and slices of the finished trials; status ok, too-few, "
            "constant, computing or error", {200: json_body(obj(["status"], status=STR)), **NOT_READY},
            params=[key], tag=t)},
        "/insights/params": {"get": op(
            "the parallel coordinates' trials: the best `top` % with a final `key`, at most `limit` (the best "
            "quarter of limit always, an even sample of the rest), in sequence order",
            {200: json_body(obj(["trials"], trials=array(OBJECT), withKey=INT, inTop=INT)), 400: err("bad argument"),
             **NOT_READY},
            params=[key, whole("top", 100, "percent of the best trials (default 100)"),
                    whole("limit", 10000, "at most this many trials (default 1000)")], tag=t)},
        "/insights/metrics": {"get": op(
            "final value and best so far per trial, durations, intermediate curves of the latest trials, "
            "each series sampled (every improvement and the longest trial kept)",
            {200: json_body(obj(["final", "durations", "curves"], final=array(OBJECT), durations=array(OBJECT),
                                curves=array(OBJECT))), 400: err("bad argument"), **NOT_READY},
            params=[key, whole("points", 10000, "at most about this many points per series (default 1000)"),
                    whole("curves", 1000, "curves of this many latest trials (default 60)"),
                    whole("curve_points", 10000, "at most about this many points per curve (default 200)")],
            tag=t)},
        "/insights/export": {"get": op(
            "succeeded trials (all or a selection) as nnictl's JSON or CSV (an attachment)",
            {200: {"description": "the file", "content": {"application/json": {"schema": array(ref("ExportRecord"))},
                                                          "text/csv": {"schema": STR}}},
             400: err("bad format"), 404: err("no such trial"), **NOT_READY},
            params=[key, query("format", {"type": "string", "enum": ["json", "csv"]}),
                    query("trials", STR, "comma-separated trial ids (default: every succeeded trial)")], tag=t)},
    }


def other_paths() -> dict[str, Any]:
    return {
        "/": {"get": op("the web portal (single page)", {200: {"description": "HTML",
                                                                "content": {"text/html": {"schema": STR}}}},
                        tag="portal")},
        "/static/{name}": {"parameters": [path_param("name", "portal.js, parcoords.js, overview.js, trials.js, analysis.js, "
                                                             "portal.css or plotly.min.js")],
                           "get": op("the portal's static files", {200: {"description": "file"},
                                                                   404: {"description": "no such file"}},
                                     tag="portal")},
        "/logs/{name}": {"parameters": [path_param("name", "nnimanager.log and the other files of <exp>/log")],
                         "get": op("a manager log file", {200: text("the log"), 404: {"description": "no such log"}},
                                   tag="nni")},
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document."""
    from nni_remote.server.rest import VERSION
    return {
        "openapi": "3.0.3",
        "info": {"title": "nni-remote manager", "version": VERSION,
                 "description": __doc__.split("\n\n", 1)[1].strip() + "\n\nEvery route except check-status "
                 "needs the access token (bearer, ?token= or the cookie the portal sets), unless the client is "
                 "the manager's own unix user on loopback. The agent protocol has a listener of its own and is "
                 "not part of this API (docs/security.md)."},
        "paths": {**nni_paths(), **our_paths(), **other_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the portal token"},
                "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
        "security": [{}, {"bearer": []}, {"tokenQuery": []}],
        "tags": [{"name": "nni", "description": "NNI's REST API (NNI-REFERENCE §3)"},
                 {"name": "nni-remote", "description": "what the portal and the CLI need beyond NNI's API"},
                 {"name": "portal"}],
    }
