"""``python -m fbp``: the command line."""

from fbp.cli import main

raise SystemExit(main())
