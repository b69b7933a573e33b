"""`python -m shoekit` is the same as the `shoekit` command."""

import sys

from shoekit.cli import main

sys.exit(main())
