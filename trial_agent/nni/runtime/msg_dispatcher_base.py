"""``nni.runtime.msg_dispatcher_base``: the base class of advisors, for heads without the real ``nni``.

An advisor decides both parameters and early stops. nni-remote's manager
hosts it in-process: it sets ``self._channel`` to an object with
``_send(command, data)`` and calls :meth:`MsgDispatcherBase.process_command`
(or the ``handle_*`` methods) from one thread; nothing here opens a socket.
"""
import logging

from ..recoverable import Recoverable
from .tuner_command_channel import CommandType

__all__ = ["MsgDispatcherBase"]

_logger = logging.getLogger(__name__)


class MsgDispatcherBase(Recoverable):
    """Override the ``handle_*`` methods; send commands with ``self.send(CommandType.X, text)``."""

    def __init__(self, command_channel_url=None):
        super().__init__()
        self.stopping = False
        self._channel = None
        self.worker_exceptions = []

    def send(self, command, data):
        """Send one command (``data`` is JSON text) to the manager."""
        if self._channel is None:
            raise RuntimeError("this advisor is not hosted by a manager yet; nni-remote's manager sets its channel")
        self._channel._send(command, data)

    def report_error(self, error):
        """Tell the manager that the advisor failed."""
        self.send(CommandType.Error, error)

    def run(self):
        """NNI's dispatcher loop; nni-remote's manager calls the handlers itself instead."""
        raise RuntimeError("MsgDispatcherBase.run() is not used with nni-remote: the manager hosts the advisor")

    def process_command(self, command, data):
        """Call the handler for ``command`` with ``data`` (already decoded)."""
        handlers = {
            CommandType.Initialize: self.handle_initialize,
            CommandType.RequestTrialJobs: self.handle_request_trial_jobs,
            CommandType.UpdateSearchSpace: self.handle_update_search_space,
            CommandType.ImportData: self.handle_import_data,
            CommandType.AddCustomizedTrialJob: self.handle_add_customized_trial,
            CommandType.ReportMetricData: self.handle_report_metric_data,
            CommandType.TrialEnd: self.handle_trial_end,
            CommandType.Ping: self.handle_ping,
        }
        if command not in handlers:
            raise AssertionError("Unsupported command: {}".format(command))
        handlers[command](data)

    def handle_ping(self, data):
        pass

    def handle_initialize(self, data):
        """The search space; reply ``send(CommandType.Initialized, '')``."""
        raise NotImplementedError("handle_initialize not implemented")

    def handle_request_trial_jobs(self, data):
        """Send ``data`` (an int) ``NewTrialJob`` commands, or ``NoMoreTrialJobs``."""
        raise NotImplementedError("handle_request_trial_jobs not implemented")

    def handle_update_search_space(self, data):
        """A new search space."""
        raise NotImplementedError("handle_update_search_space not implemented")

    def handle_import_data(self, data):
        """History: a list of ``{"parameter": ..., "value": ...}``."""
        raise NotImplementedError("handle_import_data not implemented")

    def handle_add_customized_trial(self, data):
        """Packed records of trials of an earlier run (resume)."""
        raise NotImplementedError("handle_add_customized_trial not implemented")

    def handle_report_metric_data(self, data):
        """A metric: ``parameter_id``, ``trial_job_id``, ``type``, ``sequence``, ``value`` (JSON text)."""
        raise NotImplementedError("handle_report_metric_data not implemented")

    def handle_trial_end(self, data):
        """``trial_job_id``, ``event`` (the final status) and ``hyper_params`` (the packed record, JSON text)."""
        raise NotImplementedError("handle_trial_end not implemented")
