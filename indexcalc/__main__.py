"""``python -m indexcalc`` is the ``indexcalc`` command."""

import sys

from .cli import main

sys.exit(main())
