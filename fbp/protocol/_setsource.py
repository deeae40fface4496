"""``component:source``: components whose Python code a client sends.

Running code a client sends is running anything on the runtime's machine, so it is
refused unless the operator starts the runtime with ``--allow-setsource``, which in
turn requires a secret: only clients that know the secret can send code. When
allowed, the code (``language: "python"``) is executed as a new module, the
:class:`~fbp.Component` class named ``name`` in it (or its only component class)
becomes the component ``library/name``, and the reply is its ``component:component``
description. Sending code for an existing name replaces the component for the
networks started afterwards.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .._core._component import Component
from ._messages import ProtocolError

__all__ = ("compile_component",)

_counter = 0


def compile_component(name: str, library: str | None, language: str, code: str) -> type[Component]:
    """Execute ``code`` and return the component class it defines.

    Raises:
        ProtocolError: not Python, code that fails, or no component class in it.
    """
    global _counter
    if language.lower() not in ("python", "py"):
        msg = f"component:source: this runtime takes Python code, not {language!r}"
        raise ProtocolError(msg, "component")
    _counter += 1
    module_name = f"fbp_runtime_sources.m{_counter}"
    module = types.ModuleType(module_name)
    module.__file__ = f"<component:source {library or ''}/{name}>"
    sys.modules[module_name] = module
    try:
        exec(compile(code, module.__file__, "exec"), module.__dict__)
    except Exception as e:
        sys.modules.pop(module_name, None)
        msg = f"component:source {name!r}: the code failed: {type(e).__name__}: {e}"
        raise ProtocolError(msg, "component") from None
    found: list[Any] = [
        v
        for v in module.__dict__.values()
        if isinstance(v, type)
        and issubclass(v, Component)
        and v is not Component
        and v.__module__ == module_name
    ]
    named = [c for c in found if c.__name__ == name]
    if named:
        return named[0]  # type: ignore[no-any-return]
    if len(found) == 1:
        return found[0]  # type: ignore[no-any-return]
    names = ", ".join(c.__name__ for c in found) or "none"
    msg = (
        f"component:source {name!r}: the code must define a Component subclass named"
        f" {name!r} (it defines: {names})"
    )
    raise ProtocolError(msg, "component")
