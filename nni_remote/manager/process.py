"""The manager process: store, controller, training service and HTTP server together.

``python -m nni_remote.manager --port P --experiment-id ID --action create|resume|view
--experiments-directory DIR``. For ``create`` the config arrives by
``POST /api/v1/nni/experiment`` (so secrets never appear in argv); ``resume``
and ``view`` read it back from the experiment's database, secrets from their
sealed copy.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Optional


from nni_remote.common import memory, registry, tokens
from nni_remote.errors import ConfigError, ExperimentConflict, NniRemoteError, TunerError
from nni_remote.manager import listeners
from nni_remote.manager.agent_trust import MachineCredentials
from nni_remote.manager.controller import Controller
from nni_remote.manager.service_gate import ServiceGate
from nni_remote.manager.store import Store
from nni_remote.manager.updates import preflight
from nni_remote.services.base import HeadInfo, TrainingService
from nni_remote.services.platforms import get_platform

if TYPE_CHECKING:
    from nni_remote.config import ExperimentConfig

log = logging.getLogger("nni_remote.manager")
REST_THREADS = 32


def make_service(config: "ExperimentConfig", exp_dir: str, exp_id: str) -> TrainingService:
    """The training service for the config's platform, from the platform registry."""
    if config.training_service is None:
        raise ConfigError([("trainingService", "is required")])
    return get_platform(config.training_service.platform).service_class(config, exp_dir, exp_id)


class ManagerProcess:
    """Everything one manager process holds; the Flask app reads it as ``MANAGER``."""

    def __init__(self, *, exp_id: str, experiments_dir: str, action: str, port: int, host: str = "127.0.0.1",
                 foreground: bool = False, extra_hosts: Optional[list[str]] = None, agents: int = 0,
                 log_level: str = "info", agent_port: int = 0) -> None:
        self.exp_id = exp_id
        self.exp_dir = os.path.join(experiments_dir, exp_id)
        self.action = action
        self.port = port
        self.host = host
        self.extra_hosts = [h for h in (extra_hosts or []) if h and h != host]
        self.agents = agents
        self.credentials = MachineCredentials()       # one agent credential per machine
        self.controller: Optional[Controller] = None
        self.service_gate = ServiceGate(None, self.exp_dir)
        self._lock = threading.Lock()
        make_private(self.exp_dir, ("log", "db", "checkpoint", "trials"))
        _setup_logging(os.path.join(self.exp_dir, "log", "nnimanager.log"), foreground, log_level)
        from nni_remote.server import access  # the REST/portal token (server/access.py)
        self.portal_token: str = access.setup_token([host] + self.extra_hosts, self.exp_dir)
        self.store = Store(os.path.join(self.exp_dir, "db", "nni.sqlite"), background_checkpoint=True)
        self._server: Any = None
        self._agent_sockets = listeners.bind_agent_sockets(listeners.agent_addresses(self.extra_hosts), agent_port)
        self.agent_port: int = self._agent_sockets[0].getsockname()[1]
        if action in ("resume", "view"):
            self._load_from_store()

    # -- config ----------------------------------------------------------------
    def _load_from_store(self) -> None:
        from nni_remote.config import ExperimentConfig, SecretBox
        profile = self.store.load_profile()
        if profile is None:
            raise NniRemoteError(f"experiment {self.exp_id} has no stored config in {self.exp_dir}")
        masked = profile["params"]
        blob = self.store.get_meta("secrets")
        full = SecretBox().unseal_config(masked, blob) if blob else masked
        config = ExperimentConfig.from_json(full)
        if self.action == "resume":
            config = config.canonical()
        self._build(config, masked)

    def accept_config(self, body: Any) -> Optional[dict[str, Any]]:
        """``POST /experiment``: start a created experiment with this config.

        Returns the answer's body (None: an empty answer); raises ConfigError
        (400) for a bad config and ExperimentConflict (409) when one is running.
        """
        with self._lock:
            if self.controller is not None:
                if self.action != "create":
                    return None  # NNI's launcher posts on resume/view too
                raise ExperimentConflict(f"experiment {self.exp_id} is already running; "
                                         "the config cannot be replaced")
            if not isinstance(body, dict):
                raise ConfigError("the body must be the experiment config as a JSON object")
            from nni_remote.config import ExperimentConfig, SecretBox
            config = ExperimentConfig.from_json(body).canonical()
            preflight(config)
            masked, blob = SecretBox().seal_config(config.to_json(include_secrets=True))
            if blob:
                self.store.set_meta("secrets", blob)
            self._build(config, masked)
            return {"experiment_id": self.exp_id}

    def _build(self, config: "ExperimentConfig", config_json: dict[str, Any]) -> None:
        service = None if self.action == "view" else make_service(config, self.exp_dir, self.exp_id)
        self.service_gate = ServiceGate(service, self.exp_dir)
        head = HeadInfo(url=f"http://127.0.0.1:{self.agent_port}", local_port=self.agent_port,
                        credential=self.credentials.token_for)
        ctl = Controller(exp_id=self.exp_id, exp_dir=self.exp_dir, config=config, config_json=config_json,
                         store=self.store, service=service, action=self.action, head=head,
                         registry_update=lambda **kw: registry.update_entry(self.exp_id, **kw))
        self.controller = ctl
        try:
            ctl.start()
        except NniRemoteError:
            self.controller = None
            raise
        except Exception as exc:  # a tuner that rejects the search space, a broken custom tuner, ...
            self.controller = None
            log.exception("the experiment could not start")
            raise TunerError(f"the experiment could not start: {exc.__class__.__name__}: {exc}") from exc

    # -- operations ----------------------------------------------------------------
    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
        else:
            registry.update_entry(self.exp_id, status="STOPPED", port=None)

    def shutdown_soon(self) -> None:
        """Stop the experiment now (trials killed, state saved), then exit the process."""
        self.stop()
        threading.Thread(target=self._exit_later, daemon=True).start()

    def _exit_later(self) -> None:
        time.sleep(0.2)
        logging.shutdown()
        self.store.close()
        os._exit(0)

    def threads(self) -> int:
        """Agent-listener threads: each agent's long-poll holds one (REST has its own pool)."""
        return 16 + max(64, self.agents, self._known_machines())

    def _known_machines(self) -> int:
        ctl = self.controller
        return len(ctl.service.machines()) if ctl is not None and ctl.service is not None else 0

    def start_agent_listener(self) -> Any:
        """Serve the agent routes on their own port (bound at start), in a thread; returns the server."""
        from nni_remote.server import create_agent_app
        server = listeners.agent_server(create_agent_app(self), self._agent_sockets, self.threads())
        threading.Thread(target=listeners.run_quietly, args=(server,), name="agent-listener", daemon=True).start()
        return server

    def serve(self) -> None:
        import waitress
        from nni_remote.server import create_app
        app = create_app(self)
        try:
            listen = " ".join(f"{h}:{self.port}" for h in [self.host] + self.extra_hosts)
            self._server = waitress.create_server(app, listen=listen, threads=REST_THREADS, channel_timeout=60,
                                                  connection_limit=1000, ident="nni-remote")
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", self.host, self.port, exc)
            sys.stderr.write(f"cannot listen on {self.host}:{self.port}: {exc}\n")
            sys.exit(2)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: threading.Thread(target=self.shutdown_soon, daemon=True).start())
        self.start_agent_listener()
        log.info("manager of %s listening on %s:%d (%s); agents on port %d", self.exp_id, self.host, self.port,
                 self.action, self.agent_port)
        from nni_remote.server import access
        if access.needs_token_always([self.host] + self.extra_hosts):
            # stdout is the starting user's own (a terminal, or log/nnictl_stdout.log: 0600 in a 0700 dir)
            urls = tokens.portal_urls([self.host] + self.extra_hosts, self.port, self.portal_token)
            log.info("web portal and REST need the access token (in %s): %s",
                     os.path.join(self.exp_dir, access.TOKEN_FILE), "  ".join(u.split("?")[0] for u in urls))
            print("Web portal (access token required):\n    " + "\n    ".join(urls), flush=True)
        self._server.run()


def make_private(exp_dir: str, subdirs: tuple[str, ...]) -> None:
    """The experiment tree 0700, logs 0600 (the manager process runs with umask 077, set by :func:`main`).

    The launcher may have created ``log/`` and its first files before this
    process started; they are tightened here, before anything secret is written.
    """
    for sub in ("",) + subdirs:
        path = os.path.join(exp_dir, sub)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
    log_dir = os.path.join(exp_dir, "log")
    for name in os.listdir(log_dir):
        path = os.path.join(log_dir, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.chmod(path, 0o600)


_LEVELS = {"fatal": logging.CRITICAL, "critical": logging.CRITICAL, "error": logging.ERROR,
           "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG, "trace": logging.DEBUG}


#: Loggers whose lines also go to ``log/dispatcher.log`` (NNI's tuner/assessor log): ours for the tuner
#: host and the built-in algorithms; any logger outside these prefixes is a user's or NNI's algorithm.
_TUNER_LOGGERS = ("nni_remote.tuner", "nni_remote.tuning")
_NOT_TUNER = ("nni_remote", "waitress", "paramiko", "urllib3", "requests", "werkzeug", "flask", "filelock")


class _TunerLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        return name.startswith(_TUNER_LOGGERS) or not (name == "root" or name.startswith(_NOT_TUNER))


def _setup_logging(path: str, foreground: bool, level: str = "info") -> None:
    """``nnimanager.log`` gets our lines; ``dispatcher.log`` (next to it) the tuner's and assessor's."""
    root = logging.getLogger("nni_remote")
    root.setLevel(_LEVELS.get(level.lower(), logging.INFO))
    fmt = logging.Formatter("[%(asctime)s] %(levelname)s (%(name)s) %(message)s")
    handler = logging.FileHandler(path)
    handler.setFormatter(fmt)
    root.addHandler(handler)
    dispatcher = logging.FileHandler(os.path.join(os.path.dirname(path), "dispatcher.log"))
    dispatcher.setFormatter(fmt)
    dispatcher.addFilter(_TunerLines())
    top = logging.getLogger()   # on the root logger: users' and NNI's own algorithms log wherever they like
    top.setLevel(min(top.level or logging.WARNING, _LEVELS.get(level.lower(), logging.INFO)))
    top.addHandler(dispatcher)
    if foreground:
        root.addHandler(logging.StreamHandler(sys.stdout))
    logging.getLogger("waitress").setLevel(logging.WARNING)


def main(argv: Optional[list[str]] = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m nni_remote.manager")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--experiment-id", required=True)
    parser.add_argument("--action", choices=("create", "resume", "view", "cleanup"), default="create",
                        help="cleanup: retry the host cleanup a stop left pending, then exit (0: none left)")
    parser.add_argument("--experiments-directory", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--foreground", action="store_true")
    parser.add_argument("--log-level", default="info", choices=sorted(_LEVELS))
    parser.add_argument("--agents", type=int, default=0, help="number of machines (sizes the thread pool)")
    parser.add_argument("--also-listen", action="append", default=[],
                        help="another address to listen on (remote agents in direct mode reach nni_manager_ip)")
    parser.add_argument("--agent-port", type=int, default=int(os.environ.get("NNI_REMOTE_AGENT_PORT") or 0),
                        help="port of the agent listener (default: $NNI_REMOTE_AGENT_PORT, else any free port)")
    args = parser.parse_args(argv)
    os.umask(0o077)   # everything this process and its local agent and trials write is its user's only
    memory.limit_arenas()   # before the server's threads: their heaps do not each keep what large reads freed
    if args.action == "cleanup":
        from nni_remote.manager.cleanup import retry_pending
        exp_dir = os.path.join(args.experiments_directory, args.experiment_id)
        logging.basicConfig(level=logging.WARNING)
        return 6 if retry_pending(exp_dir, args.experiment_id) else 0
    try:
        proc = ManagerProcess(exp_id=args.experiment_id, experiments_dir=args.experiments_directory,
                              action=args.action, port=args.port, host=args.host, foreground=args.foreground, log_level=args.log_level,
                              extra_hosts=args.also_listen, agents=args.agents, agent_port=args.agent_port)
    except NniRemoteError as exc:
        sys.stderr.write(f"nni-remote manager: {exc}\n")
        return 2
    memory.freeze_startup()   # start-up's objects (modules, libraries) are never traversed by the GC again
    proc.serve()
    return 0
