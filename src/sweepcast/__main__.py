"""``python -m sweepcast``: see :mod:`sweepcast.cli`."""

import sys

from sweepcast.console import quiet

quiet()  # before the CLI's imports: library chatter off unless SWEEPCAST_VERBOSE=1

from sweepcast.cli import main  # noqa: E402

sys.exit(main())
