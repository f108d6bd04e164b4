"""``python -m rnnlab``: the ``rnnlab`` command, for an environment whose scripts are not on PATH."""

import sys

from rnnlab_entry import main

sys.exit(main())
