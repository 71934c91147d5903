"""``nni.runtime``: the parts of NNI's runtime that custom advisors import (stdlib only)."""
