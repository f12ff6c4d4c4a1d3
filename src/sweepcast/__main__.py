"""``python -m sweepcast``: see :mod:`sweepcast.cli`."""

import sys

from sweepcast.cli import main

sys.exit(main())
