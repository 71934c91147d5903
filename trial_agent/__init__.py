"""nni-remote trial agent: stdlib only, Python 3.8+, never imports nni_remote."""

from trial_agent.protocol import PROTOCOL_VERSION as PROTOCOL_VERSION
