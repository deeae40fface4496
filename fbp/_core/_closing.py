"""Resources closed by ``with``: the one ``__enter__``/``__exit__`` pair they share."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ("Closing",)


class Closing:
    """A resource with :meth:`close`; ``with`` closes it on the way out, however the
    block ends. A class whose close must behave differently when the block raised
    overrides ``__exit__``."""

    __slots__ = ()

    def close(self) -> None:
        """Release the resource (safe to call more than once)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
