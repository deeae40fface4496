"""examples: the components the example networks in ``networks/`` use.

``Reading`` and ``Scale`` are the scaling example of the user guide; ``SplitWords`` and
``Sort`` serve the word count; ``Naturals`` is an endless source; ``Concat`` joins
streams one after another. ``Double`` is a subnet, the graph file ``Double.fbp`` in this
folder: any ``.fbp``, ``.json`` or ``.yaml`` graph beside a collection's module is a
component of the collection.
"""

from ._scaling import Reading, Scale
from ._streams import Concat, Naturals
from ._text import Sort, SplitWords

__all__ = ("Concat", "Naturals", "Reading", "Scale", "Sort", "SplitWords")
