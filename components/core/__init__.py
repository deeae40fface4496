"""core: the basic components every network uses.

``Repeat``, ``Drop`` and ``Output`` have the ports ``IN``/``OUT`` that the FBP network
protocol's test suite expects.
"""

from ._basic import Collect, Drop, Kick, Output, Range, Repeat

__all__ = ("Collect", "Drop", "Kick", "Output", "Range", "Repeat")
