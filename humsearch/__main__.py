"""`python -m humsearch ...` runs the command line (cli.py at the project root)."""

import sys

from cli import main

sys.exit(main())
