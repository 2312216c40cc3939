"""``python -m cxmetrics``: the same command line as the ``cxmetrics`` script."""

import sys

from cxmetrics.cli import main

if __name__ == "__main__":
    sys.exit(main())
