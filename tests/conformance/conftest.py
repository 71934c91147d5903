"""The real-sshd rig fixture of the remote integration tests, for the remote harness."""
from tests.integration.remote.conftest import rig_factory as rig_factory  # noqa: F401
