"""``python -m nni_remote.cli``."""
import sys

from nni_remote.cli import main

sys.exit(main())
