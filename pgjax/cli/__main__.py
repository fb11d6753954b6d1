"""`python -m pgjax.cli ...` is the `pgjax` command."""

import sys

from pgjax.cli.main import main

sys.exit(main())
