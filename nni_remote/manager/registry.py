"""Moved to :mod:`nni_remote.common.registry` (the user side may import it); kept for old imports."""
from nni_remote.common.registry import *  # noqa: F401,F403
from nni_remote.common.registry import all_entries as all_entries
from nni_remote.common.registry import get_entry as get_entry
from nni_remote.common.registry import registry_path as registry_path
from nni_remote.common.registry import remove_entry as remove_entry
from nni_remote.common.registry import update_entry as update_entry
