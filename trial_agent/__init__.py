"""nni-remote trial agent: stdlib only, Python 3.8+, never imports nni_remote."""

PROTOCOL_VERSION = 1
