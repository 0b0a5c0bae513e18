"""`python -m dock.cli ...`: the `lwdock` command without the TUI launcher."""

import sys

from dock.cli.parser import main

sys.exit(main())
