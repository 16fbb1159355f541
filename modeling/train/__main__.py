"""``python -m modeling.train``: see :mod:`modeling.train.cli`."""

import sys

from modeling.train.cli import main

sys.exit(main())
