"""``python -m nni_remote.manager``: run one experiment's manager process."""
import sys

from nni_remote.manager.process import main

sys.exit(main())
