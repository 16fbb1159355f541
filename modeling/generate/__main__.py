"""``python -m modeling.generate``: see :mod:`modeling.generate.cli`."""

import sys

from modeling.generate.cli import main

sys.exit(main())
