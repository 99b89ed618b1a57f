"""``python -m indexcalc`` is the ``indexcalc`` command."""

import sys

from indexcalc.cli import main

sys.exit(main())
