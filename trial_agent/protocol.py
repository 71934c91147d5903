"""The agent protocol's vocabulary, shared by the agent and the manager (``nni_remote.manager.agents``).

HTTP+JSON under ``/api/agent/v1/``, ``Authorization: Bearer <experiment token>``.

- ``POST poll`` — the agent's long-poll and heartbeat. Body: ``machine``, ``boot``
  (changes when the agent restarts), ``epoch`` and ``ack`` (the last command id
  it handled in that manager epoch), ``trials`` (run id → ``running``/``done``/
  ``queued``), ``queued`` (run id → the run it waits for), ``gpus``, ``pid``, ``python``, ``protocol`` (:data:`PROTOCOL_VERSION`),
  ``wait`` (seconds it may be held). Answer: ``epoch`` and ``commands``, each
  with an ``id`` and a ``type`` among :data:`COMMANDS`; commands are re-sent
  until acknowledged.
- ``POST events`` — ``{"trials": {run_id: [event, ...]}}``, each run's events in
  ``seq`` order (per run, from 0) from the last acknowledged one; an event is an
  object with a ``seq`` and a ``type`` among :data:`EVENTS`, or a trial's result
  as the compact row ``[seq, "FINAL"|"PERIODICAL", sequence, parameter_id,
  value_text]`` (protocol 2); up to 5,000 events per run in one request, stored
  by the manager in one transaction. Answer: ``{"acked": {run_id: next_seq}}``.
  Delivery is at-least-once, storage exactly-once (the manager keeps the next
  ``seq`` it expects of each run; it still reads protocol 1's metric objects).

A run id names one attempt of a trial: ``<trial>`` or ``<trial>.<attempt>``.
Stdlib only, Python 3.8+, like the rest of ``trial_agent``.
"""

PROTOCOL_VERSION = 2
ROUTE_PREFIX = "/api/agent/v1/"
POLL = "poll"
EVENTS_ROUTE = "events"

CMD_START = "start"          # spec: trial_id, run_id, attempt, command, working_dir, trial_dir, gpus, ...; with
                             # spec.after (a run id): start it the moment that run ends (prefetchTrials)
CMD_KILL = "kill"            # run_id, reason, grace (seconds before SIGKILL)
CMD_SHUTDOWN = "shutdown"    # kill every trial, deliver the last events, exit
COMMANDS = (CMD_START, CMD_KILL, CMD_SHUTDOWN)

EVENT_STATUS = "status"      # status ("RUNNING"), pid, time (ms)
EVENT_METRIC = "metric"      # a result travels as a compact row (above); an object carries record: another record
                             # parsed, or metric: the record's text when it is not JSON
EVENT_END = "end"            # exit_code or signal, error (could not start), time (ms); or requeue (why): the
                             # trial's machine was lost (Slurm: NODE_FAIL, PREEMPTED), run it as its next attempt
EVENT_NOTE = "note"          # message: the platform's word on a waiting/running trial (Slurm's pending reason)
EVENTS = (EVENT_STATUS, EVENT_METRIC, EVENT_END, EVENT_NOTE)
