"""``python -m fbp``: the command line."""

import sys

if sys.argv[1:2] == ["runtime"] and not {"-h", "--help"} & set(sys.argv[2:]):
    # The protocol runtime listens before it loads anything else (fbp.protocol._start).
    from fbp.protocol._start import main as _runtime

    raise SystemExit(_runtime(sys.argv[2:]))

from fbp.cli import main

raise SystemExit(main(prog="python -m fbp"))
