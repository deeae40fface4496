"""``python -m benchmarks``: see ``python -m benchmarks --help``."""

from ._cli import main

raise SystemExit(main())
