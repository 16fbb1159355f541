"""``python -m modeling.judge``: see :mod:`modeling.judge.cli`."""

import sys

from modeling.judge.cli import main

sys.exit(main())
