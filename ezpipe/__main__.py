"""``python -m ezpipe``: the ``ezpipe`` command."""

import sys

from .cli import main

sys.exit(main())
