"""``Experiment``: NNI's Python API (EXPERIMENT-API.txt), name for name.

The manager is a separate process (``python -m nni_remote.manager``); an
``Experiment`` launches it, then talks to it over REST. ``start()`` returns as
soon as the manager accepted the config; ``run()`` returns as soon as the
experiment ends (no 10-second poll) and draws a progress bar on a terminal.
"""
from __future__ import annotations

import atexit
import enum
import logging
import os
import secrets
import re
import socket
import string
import subprocess
import sys
import time
from typing import Any, Optional, TextIO, Union, cast

from nni_remote.client import RestClient
from nni_remote.config import ExperimentConfig
from nni_remote.data import TrialJob, TrialMetricData, TrialResult
from nni_remote.errors import ExperimentNotFound, ExperimentNotRunning, NniRemoteError
from nni_remote.common import registry
from nni_remote.common.profile import read_profile
from nni_remote.config.preflight import preflight
from nni_remote.progress import ProgressBar

log = logging.getLogger("nni_remote.experiment")
_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
FINISHED = ("DONE", "STOPPED", "ERROR")


class RunMode(enum.Enum):
    """How the manager process relates to this Python process (NNI's ``RunMode``)."""

    Background = "background"   # stopped when Python exits; its log stays in files
    Foreground = "foreground"   # stopped when Python exits; its log is printed here
    Detach = "detach"           # outlives this Python process


class _hybrid:
    """A method callable on the class with an experiment id, or on an instance."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, cls: Any) -> Any:
        def bound(*args: Any, **kwargs: Any) -> Any:
            if obj is None:
                if not args and "experiment_id" not in kwargs:
                    raise TypeError(f"Experiment.{self.func.__name__}() needs the experiment id")
                exp_id = kwargs.pop("experiment_id", None) or args[0]
                args = args[1:] if args and args[0] == exp_id else args
                exp = cls(None, id=exp_id)
                result = self.func(exp, *args, **kwargs)
                return exp if result is None else result  # NNI 2.x: the experiment when not waiting
            return self.func(obj, *args, **kwargs)
        bound.__doc__ = self.func.__doc__
        return bound


def _random_id() -> str:
    return "".join(secrets.SystemRandom().sample(string.ascii_lowercase + string.digits, 8))


def _port_idle(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


_ACTIONS = {"create": "Creating", "resume": "Resuming", "view": "Viewing"}


def _portal_urls(port: int, manager_ip: Optional[str], exp_dir: str) -> list[str]:
    """Loopback first; with ``nniManagerIp``, its URL carries the access token (Jupyter style)."""
    urls = [f"http://127.0.0.1:{port}"]
    if manager_ip:
        from nni_remote.common.tokens import portal_urls, read_token
        urls += portal_urls([manager_ip], port, read_token(exp_dir))
    return urls


def _announce(exp_dir: str, *lines: str) -> None:
    """Print NNI's start-up lines (experiment id, portal URLs) and keep them in ``log/experiment.log``.

    The log file gets the URLs without the access token, which stays in ``.portal-token`` only.
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    text = "".join(f"[{stamp}] INFO (nni_remote.experiment) {line}\n" for line in lines)
    sys.stdout.write(text)
    sys.stdout.flush()
    try:
        fd = os.open(os.path.join(exp_dir, "log", "experiment.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:  # the owner's only, as the whole experiment directory
            f.write(re.sub(r"\?token=[^\s]*", "?token=<in .portal-token>", text))
    except OSError:
        pass


class Experiment:
    """Manage an NNI experiment: launch it, watch it, change it, stop it.

    ``Experiment(config)`` with an :class:`ExperimentConfig`, or
    ``Experiment('local')`` / ``Experiment('remote')`` for a blank config to fill
    in. ``Experiment.connect(port)``, ``Experiment.resume(id)`` and
    ``Experiment.view(id)`` attach to existing experiments.
    """

    def __init__(self, config_or_platform: Union[ExperimentConfig, str, list[Any], None] = None,
                 id: Optional[str] = None) -> None:
        if id is not None and not _ID_RE.match(id):
            raise ValueError(f"experiment id {id!r} must match [A-Za-z0-9_-]{{1,32}}")
        if isinstance(config_or_platform, (str, list)):
            self.config: Optional[ExperimentConfig] = ExperimentConfig(config_or_platform)
        else:
            self.config = config_or_platform
        self.id: str = id or _random_id()
        self.port: Optional[int] = None
        self.url_prefix: Optional[str] = None
        self._proc: Any = None
        self._action = "create"
        self._client: Optional[RestClient] = None
        self.urls: list[str] = []   # the web portal's URLs once started (with the access token where needed)

    # -- lifecycle -----------------------------------------------------------------
    def start(self, port: int = 8080, debug: bool = False, run_mode: RunMode = RunMode.Background) -> None:
        """Launch the manager and hand it the config; raises on any failure."""
        if self._action == "create":
            if self.config is None:
                raise NniRemoteError("this Experiment has no config: build it with Experiment(config) "
                                     "or Experiment('local')")
            canonical = self.config.canonical()
            preflight(canonical)
            workdir = canonical.experiment_working_directory
            body = canonical.to_json(include_secrets=True)
            platform, name = canonical.platform, canonical.experiment_name
            service = canonical.training_service
            assert service is not None  # canonical() requires one
            manager_ip = service.manager_listen_ip()
            agents = service.machine_count()
            log_level = "debug" if debug else (canonical.log_level or "info")
        else:
            entry = registry.get_entry(self.id) or {}
            workdir = entry.get("logDir") or os.path.expanduser("~/nni-experiments")
            body, platform, name = None, entry.get("platform", "local"), entry.get("experimentName")
            manager_ip = entry.get("nniManagerIp")
            agents = 0
            log_level = "debug" if debug else "info"
        if not _port_idle(port):
            raise NniRemoteError(f"Port {port} is not idle: another process listens there; pick another port")
        exp_dir = os.path.join(workdir, self.id)
        os.makedirs(os.path.join(exp_dir, "log"), exist_ok=True)
        argv = [sys.executable, "-m", "nni_remote.manager", "--port", str(port), "--experiment-id", self.id,
                "--action", self._action, "--experiments-directory", workdir, "--log-level", log_level]
        if manager_ip:
            argv += ["--also-listen", manager_ip]
        if agents > 1:
            argv += ["--agents", str(agents)]
        out: Optional[TextIO] = None
        err: Optional[TextIO] = None
        if run_mode == RunMode.Foreground:
            argv.append("--foreground")
        else:
            out = open(os.path.join(exp_dir, "log", "nnictl_stdout.log"), "a")
            err = open(os.path.join(exp_dir, "log", "nnictl_stderr.log"), "a")
            for header in (out, err):
                header.write(f"-----------------------------------------------------------------------\n"
                        f"                Experiment start time {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                        f"-----------------------------------------------------------------------\n")
                header.flush()
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          start_new_session=True)
        finally:
            for f in (out, err):
                if f is not None:
                    f.close()
        registry.update_entry(self.id, port=port, startTime=int(time.time() * 1000), endTime="N/A",
                              status="INITIALIZED", platform=platform, experimentName=name, pid=self._proc.pid,
                              logDir=workdir, tag=[], webuiUrl=[f"http://127.0.0.1:{port}"], prefixUrl=None,
                              **({"nniManagerIp": manager_ip} if manager_ip else {}))
        client = RestClient(port)
        try:
            self._wait_manager(client, exp_dir)
            if body is not None:
                client.post("experiment", body)
        except BaseException:
            self._kill_manager()
            if self._action == "create":  # a refused config leaves no registry entry (NNI's neither)
                registry.remove_entry(self.id)
            raise
        self.port, self._client = port, client
        self.urls = _portal_urls(port, manager_ip, exp_dir)
        _announce(exp_dir, f"{_ACTIONS[self._action]} experiment, Experiment ID: {self.id}",
                  "Web portal URLs: " + " ".join(self.urls))
        if run_mode != RunMode.Detach:
            atexit.register(self.stop)
        latest = os.path.join(workdir, "_latest")
        try:
            if os.path.islink(latest):
                os.unlink(latest)
            os.symlink(self.id, latest)
        except OSError:
            pass
        log.info("experiment %s: web portal at http://127.0.0.1:%d", self.id, port)

    def _wait_manager(self, client: RestClient, exp_dir: str) -> None:
        deadline = time.time() + 60
        while True:
            if self._proc.poll() is not None:
                stderr = os.path.join(exp_dir, "log", "nnictl_stderr.log")
                tail = ""
                if os.path.exists(stderr):
                    with open(stderr) as f:
                        tail = f.read()[-2000:]
                raise NniRemoteError(f"the manager of {self.id} exited with code {self._proc.returncode}"
                                     + (f":\n{tail}" if tail else ""))
            try:
                client.status()
                return
            except ExperimentNotRunning:
                if time.time() > deadline:
                    raise NniRemoteError(f"the manager of {self.id} did not answer within 60 s")
                time.sleep(0.02)

    def _kill_manager(self) -> None:
        if self._proc is not None:
            try:
                self._proc.kill()
                self._proc.wait(timeout=10)
            except Exception:
                pass

    def run(self, port: int = 8080, wait_completion: bool = True, debug: bool = False) -> Optional[bool]:
        """Start, then (if ``wait_completion``) wait: True on DONE/STOPPED, False on ERROR."""
        self.start(port, debug)
        if not wait_completion:
            return None
        return self._wait_completion()

    def _wait_completion(self) -> Optional[bool]:
        bar = ProgressBar.for_terminal()
        try:
            while True:
                status = self.get_status()
                if bar is not None:
                    bar.update(self)
                if status in FINISHED:
                    if bar is not None:
                        bar.close(self)
                    return status != "ERROR"
                time.sleep(0.1)
        except KeyboardInterrupt:
            log.warning("KeyboardInterrupt: stopping the experiment")
            self.stop()
            return None

    def stop(self) -> None:
        """Stop the experiment: trials are killed, state is saved, the manager exits."""
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass
        if self.port is None:
            return
        try:
            self._rest.delete("experiment", timeout=60)
        except NniRemoteError as exc:
            log.warning("stopping %s: %s", self.id, exc)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except Exception:
                self._kill_manager()
        self.port = None
        if self._client is not None:
            self._client.close()
        self._client = None
        self._warn_cleanup_pending()

    def _warn_cleanup_pending(self) -> None:
        """Say which hosts ``stop`` could not clean (unreachable); later commands on the experiment retry them."""
        from nni_remote.common import cleanup_record, registry
        entry = registry.get_entry(self.id) or {}
        directory = os.path.join(entry.get("logDir") or os.path.expanduser("~/nni-experiments"), self.id)
        left = cleanup_record.pending(directory)
        if left:
            log.warning("experiment %s stopped, but %s; run `nni-remote stop %s` once they are reachable",
                        self.id, cleanup_record.describe(left), self.id)

    @classmethod
    def connect(cls, port: int) -> "Experiment":
        """Attach to the experiment whose manager listens on ``port``."""
        client = RestClient(port)
        profile = client.get("experiment")
        exp = cls(None, id=profile["id"])
        exp.port, exp._client = port, client
        entry = registry.get_entry(exp.id) or {}
        if entry.get("pid"):
            import psutil
            try:
                exp._proc = psutil.Process(entry["pid"])
            except psutil.Error:
                exp._proc = None
        return exp

    @_hybrid
    def resume(self, port: int = 8080, wait_completion: bool = True, debug: bool = False) -> Optional[bool]:
        """Resume a stopped experiment: finished trials are kept, unfinished ones re-attached or re-run."""
        self._prepare_existing("resume")
        self.start(port, debug)
        if not wait_completion:
            return None
        return self._wait_completion()

    @_hybrid
    def view(self, port: int = 8080, non_blocking: bool = False) -> "Experiment":
        """Open a stopped experiment read-only; every mutating call is refused."""
        self._prepare_existing("view")
        self.start(port, run_mode=RunMode.Detach)
        if not non_blocking:
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                self.stop()
        return self

    def _prepare_existing(self, action: str) -> None:
        entry = registry.get_entry(self.id)
        if entry is None:
            raise ExperimentNotFound(f"Experiment {self.id} does not exist thus cannot be {action.rstrip('e')}ed "
                                     f"(it is not in {registry.registry_path()})")
        if entry.get("status") != "STOPPED":
            raise NniRemoteError(f"experiment {self.id} is still running on port {entry.get('port')}; "
                                 f"use Experiment.connect({entry.get('port')}) or stop it first")
        self._action = action

    def run_or_resume(self, port: int = 8080, wait_completion: bool = True, debug: bool = False) -> Optional[bool]:
        if self.has_checkpoint():
            return cast("bool | None", self.resume(port, wait_completion, debug))
        return self.run(port, wait_completion, debug)

    def has_checkpoint(self) -> bool:
        return registry.get_entry(self.id) is not None

    def load_checkpoint(self) -> None:
        """Read this experiment's config back from its database."""
        entry = registry.get_entry(self.id)
        if entry is None:
            raise ExperimentNotFound(f"experiment {self.id} is not in the registry")
        profile = read_profile(os.path.join(entry["logDir"], self.id, "db", "nni.sqlite"))
        if profile is not None and self.config is None:
            self.config = ExperimentConfig.from_json(profile["params"])

    def save_checkpoint(self) -> None:
        """Nothing to do: the manager persists every change as it happens."""

    # -- queries ---------------------------------------------------------------------
    @property
    def _rest(self) -> RestClient:
        if self.port is None:
            raise ExperimentNotRunning("Experiment is not running")
        if self._client is None:
            self._client = RestClient(self.port)
        return self._client

    def get_status(self) -> str:
        return cast("str", self._rest.status()["status"])

    def get_experiment_profile(self) -> dict[str, Any]:
        return cast("dict[Any, Any]", self._rest.get("experiment"))

    def get_trial_job(self, trial_job_id: str) -> TrialJob:
        return TrialJob.from_json(self._rest.get(f"trial-jobs/{trial_job_id}"))

    def list_trial_jobs(self) -> list[TrialJob]:
        return [TrialJob.from_json(t) for t in self._rest.get("trial-jobs")]

    def get_job_statistics(self) -> list[dict[str, Any]]:
        return cast("list[dict[Any, Any]]", self._rest.get("job-statistics"))

    def get_job_metrics(self, trial_job_id: Optional[str] = None) -> dict[str, list[TrialMetricData]]:
        route = "metric-data" if trial_job_id is None else f"metric-data/{trial_job_id}"
        result: dict[str, list[TrialMetricData]] = {}
        for record in self._rest.get(route):
            result.setdefault(record["trialJobId"], []).append(TrialMetricData(**record))
        return result

    def get_experiment_metadata(self, exp_id: str) -> dict[str, Any]:
        for entry in self.get_all_experiments_metadata():
            if entry.get("id") == exp_id:
                return entry
        return {}

    def get_all_experiments_metadata(self) -> list[dict[str, Any]]:
        return cast("list[dict[Any, Any]]", self._rest.get("experiments-info"))

    def export_data(self) -> list[TrialResult]:
        return [TrialResult(**r) for r in self._rest.get("export-data")]

    # -- updates ---------------------------------------------------------------------
    def update_trial_concurrency(self, value: int) -> None:
        self._rest.update("TRIAL_CONCURRENCY", "trialConcurrency", value)

    def update_max_experiment_duration(self, value: Union[str, int]) -> None:
        self._rest.update("MAX_EXEC_DURATION", "maxExperimentDuration", value)

    def update_search_space(self, value: dict[str, Any]) -> None:
        self._rest.update("SEARCH_SPACE", "searchSpace", value)

    def update_max_trial_number(self, value: int) -> None:
        self._rest.update("MAX_TRIAL_NUM", "maxTrialNumber", value)

    def kill_trial_job(self, trial_job_id: str) -> None:
        self._rest.delete(f"trial-jobs/{trial_job_id}")

    def __repr__(self) -> str:
        return f"Experiment(id={self.id!r}, port={self.port!r})"
