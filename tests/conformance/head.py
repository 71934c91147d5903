"""A real manager in this process, as the head the training service under test launches agents for.

The manager is the production one (``ManagerProcess``: controller, agent hub,
store, Flask app on a real port) so agents speak the real agent protocol; the
tests then call the :class:`~nni_remote.services.base.TrainingService` seam
directly (``head.service``) and watch its effects through the hub.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional

import waitress

from nni_remote.manager.controller import Controller
from nni_remote.manager.process import ManagerProcess
from nni_remote.manager.trials import Trial
from nni_remote.server import create_app
from nni_remote.services.base import TrainingService
from tests.conftest import free_port
from tests.conftest import wait_for as wait_for


class Head:
    """One experiment's manager, served on a free loopback port; :meth:`close` always cleans up."""

    def __init__(self, experiments_dir: str, config: dict[str, Any], exp_id: str) -> None:
        before = list(logging.getLogger("nni_remote").handlers)
        self.port = free_port()
        self.mp = ManagerProcess(exp_id=exp_id, experiments_dir=experiments_dir, action="create", port=self.port)
        self._handlers = [h for h in logging.getLogger("nni_remote").handlers if h not in before]
        self.server = waitress.create_server(create_app(self.mp), host="127.0.0.1", port=self.port,
                                             threads=self.mp.threads())
        self._closing = False
        self._serving = threading.Thread(target=self._serve, name="head-http", daemon=True)
        self._serving.start()
        self.agents = self.mp.start_agent_listener()
        self.mp.accept_config(config)
        self.stopped = False

    def _serve(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):  # closing the server under its select loop
            if not self._closing:
                raise

    @property
    def controller(self) -> Controller:
        assert self.mp.controller is not None
        return self.mp.controller

    @property
    def service(self) -> TrainingService:
        assert self.controller.service is not None
        return self.controller.service

    @property
    def exp_dir(self) -> str:
        return self.mp.exp_dir

    # -- watching ----------------------------------------------------------------------
    def trials(self) -> list[Trial]:
        with self.controller.lock:
            return sorted(self.controller.trials.values(), key=lambda t: t.seq)

    def machine_state(self, name: str) -> str:
        with self.controller.lock:
            return self.controller.hub.machines[name].state

    def wait_ready(self, timeout: float = 90.0) -> list[str]:
        names = [m.name for m in self.service.machines()]
        wait_for(lambda: all(self.machine_state(n) == "ready" for n in names), timeout,
                 what=f"machines {names} ready (errors: {self.controller.errors})")
        return names

    def wait_trials(self, count: int, *statuses: str, timeout: float = 90.0) -> list[Trial]:
        def done() -> Optional[list[Trial]]:
            trials = [t for t in self.trials() if t.status in statuses]
            return trials if len(trials) >= count else None
        return wait_for(done, timeout, what=f"{count} trial(s) {statuses}; now "
                                            f"{[(t.id, t.status, t.message) for t in self.trials()]}")

    # -- ending --------------------------------------------------------------------------
    def stop(self) -> None:
        """The experiment's stop(): kill trials, shut agents down, then ``service.stop()``."""
        if not self.stopped:
            self.stopped = True
            self.mp.stop()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._closing = True
            self.server.close()
            self.agents.close()
            self._serving.join(timeout=10)
            self.mp.service_gate.close()
            self.mp.store.close()
            for handler in self._handlers:
                logging.getLogger("nni_remote").removeHandler(handler)
                handler.close()
