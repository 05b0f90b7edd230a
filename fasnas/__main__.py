"""``python -m fasnas`` runs the command line."""

import sys

from fasnas.cli import main

sys.exit(main())
