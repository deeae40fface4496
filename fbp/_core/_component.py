"""Components: Python classes whose instances run as processes of a network."""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from ._arrays import ArrayInPort, ArrayOutPort
from ._log import BoundLogger
from ._ports import MISSING, InPort, OutPort, PortSpec, _PortOptions
from ._types import type_name

__all__ = ("Component", "ComponentDefinitionError", "ComponentSpec")

_PORT_CLASSES: dict[Any, tuple[str, bool]] = {
    InPort: ("in", False),
    OutPort: ("out", False),
    ArrayInPort: ("in", True),
    ArrayOutPort: ("out", True),
}


class ComponentDefinitionError(TypeError):
    """A component class is written wrongly (raised when it is defined or first used)."""


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """What a component declares: its ports, style and documentation."""

    cls: type[Component]
    description: str
    doc: str
    inports: tuple[PortSpec, ...]
    outports: tuple[PortSpec, ...]
    looper: bool
    #: For a non-looper: the input ports ``process()`` takes, in signature order.
    activation_ports: tuple[str, ...]

    @property
    def qualname(self) -> str:
        """``module:Class``, the import path of the component."""
        return f"{self.cls.__module__}:{self.cls.__qualname__}"

    def inport(self, name: str) -> PortSpec | None:
        """Find an input port by name, ignoring case."""
        key = name.lower()
        return next((p for p in self.inports if p.name == key), None)

    def outport(self, name: str) -> PortSpec | None:
        """Find an output port by name, ignoring case."""
        key = name.lower()
        return next((p for p in self.outports if p.name == key), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (for listings and the protocol runtime)."""

        def one(p: PortSpec) -> dict[str, Any]:
            d: dict[str, Any] = {
                "name": p.name,
                "type": type_name(p.tp),
                "description": p.description,
                "required": not p.optional,
                "array": p.array,
            }
            if p.has_default:
                d["default"] = p.default
            return d

        return {
            "name": self.qualname,
            "description": self.description,
            "looper": self.looper,
            "inports": [one(p) for p in self.inports],
            "outports": [one(p) for p in self.outports],
        }


class Component:
    """Base class of components: subclass it, declare ports, write ``run`` or ``process``.

    A **looper** defines ``async def run(self)`` and owns its loop::

        class Double(Component):
            \"\"\"Double every number.\"\"\"

            in_: InPort[float]
            out: OutPort[float]

            async def run(self) -> None:
                async for x in self.in_:
                    await self.out.send(2 * x)

    A **non-looper** defines ``async def process(self, ...)``, whose parameters name
    input ports; the runtime calls it once per set of inputs (one IP from each named
    port; a port fed only by an IIP gives the same value to every activation) and again
    while input remains. Its sends have the consumed IPs as parents.

    Port attribute names map to FBP port names by dropping a trailing underscore
    (``in_`` is ``IN``); graphs may write port names in any case. When the process ends
    its output ports close, which ends the streams downstream.

    Attributes:
        name: the process name in the network.
        log: a logger bound to the process (``self.log.info("event", key=value)``).
    """

    #: Set on the process instance by the runtime.
    name: str
    log: BoundLogger

    #: Non-loopers only: forward brackets from input to output ports (default True).
    forward_brackets: ClassVar[bool] = True

    #: The icon visual editors show for this component (a Font Awesome name), if any.
    icon: ClassVar[str | None] = None

    #: False for a component whose outputs are not a function of its inputs alone (it
    #: reads the clock, draws unseeded random numbers, calls a service): a replay
    #: (:func:`fbp.causal.replay`) then runs it several times and reports the spread.
    deterministic: ClassVar[bool] = True

    __fbp_spec__: ClassVar[ComponentSpec | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_port_names(cls)
        cls.__fbp_spec__ = None
        has_run = _defines(cls, "run")
        has_process = _defines(cls, "process")
        if has_run and has_process:
            msg = (
                f"component {cls.__qualname__} defines both run() and process(); define"
                " run() for a looper or process() for a non-looper, not both"
            )
            raise ComponentDefinitionError(msg)
        for meth in ("run", "process", "finish"):
            fn = getattr(cls, meth, None)
            if fn is not None and _defines(cls, meth) and not inspect.iscoroutinefunction(fn):
                msg = f"{cls.__qualname__}.{meth}() must be 'async def'"
                raise ComponentDefinitionError(msg)

    @classmethod
    def spec(cls) -> ComponentSpec:
        """Return the component's declared ports and documentation (built once)."""
        spec = cls.__dict__.get("__fbp_spec__")
        if spec is None:
            spec = _build_spec(cls)
            cls.__fbp_spec__ = spec
        return spec

    async def run(self) -> None:
        """Run the process (loopers override this)."""
        msg = (
            f"component {type(self).__qualname__} defines neither run() nor process();"
            " define 'async def run(self)' (a looper) or 'async def process(self, ...)'"
            " (a non-looper)"
        )
        raise ComponentDefinitionError(msg)

    async def finish(self) -> None:
        """Non-loopers: called once after the last activation (flush state here)."""

    def set_icon(self, icon: str) -> None:
        """Show another icon for this process in visual editors (``network:icon``).

        Editors connected to the FBP protocol runtime redraw the node; elsewhere it only
        records the icon, as :attr:`current_icon`.
        """
        self.current_icon = icon
        listener = getattr(self, "_icon_listener", None)
        if listener is not None:
            listener(self.name, icon)

    def __repr__(self) -> str:
        name = getattr(self, "name", None)
        return f"<{type(self).__qualname__} {name}>" if name else f"<{type(self).__qualname__}>"


#: What the names a port must not take are, on every component.
_RESERVED_ROLES: dict[str, str] = {
    "name": "the process's name, set by the runtime",
    "log": "the process's logger, set by the runtime",
    "run": "the method a looper defines",
    "process": "the method a non-looper defines",
    "finish": "the method called after a non-looper's last activation",
    "spec": "the class method that lists the ports",
    "forward_brackets": "the setting of non-loopers' bracket forwarding",
}

_PORT_ANNOTATION = re.compile(r"\b(?:Array)?(?:In|Out)Port\b")


def _reserved_names() -> frozenset[str]:
    """Every name a port attribute must not take: Component's own attributes."""
    own = {n for n in dir(Component) if not (n.startswith("__") and n.endswith("__"))}
    return frozenset(own | set(_RESERVED_ROLES) | set(Component.__annotations__))


def _check_port_names(cls: type[Component]) -> None:
    """Refuse, when the class is defined, a port whose attribute is one of Component's
    own (a port ``log`` would replace the process's logger)."""
    reserved = _reserved_names()
    annotations = inspect.get_annotations(cls)
    for attr, hint in annotations.items():
        if attr not in reserved:
            continue
        text = hint if isinstance(hint, str) else repr(hint)
        origin = typing.get_origin(hint) or hint
        is_port = origin in _PORT_CLASSES or bool(_PORT_ANNOTATION.search(text))
        if is_port or isinstance(cls.__dict__.get(attr), _PortOptions):
            role = _RESERVED_ROLES.get(attr, "an attribute every component has")
            msg = (
                f"{cls.__qualname__}.{attr}: a port attribute cannot be named {attr!r}, which"
                f" is {role}; name the attribute {attr + '_'!r} (the port keeps the name"
                f" {attr.upper()!r}, as a trailing underscore is dropped)"
            )
            raise ComponentDefinitionError(msg)


def _defines(cls: type, name: str) -> bool:
    for klass in cls.__mro__:
        if klass is Component:
            return False
        if name in klass.__dict__:
            return True
    return False


def _port_name(attr: str) -> str:
    return (attr[:-1] if attr.endswith("_") else attr).lower()


def _build_spec(cls: type[Component]) -> ComponentSpec:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except NameError as e:
        msg = f"cannot resolve the port types of {cls.__qualname__}: {e}"
        raise ComponentDefinitionError(msg) from e
    inports: list[PortSpec] = []
    outports: list[PortSpec] = []
    seen: dict[str, str] = {}
    for attr, hint in hints.items():
        origin = typing.get_origin(hint) or hint
        kind = _PORT_CLASSES.get(origin)
        if kind is None:
            continue
        direction, array = kind
        args = typing.get_args(hint)
        tp = args[0] if args else Any
        opts = cls.__dict__.get(attr, None)
        for klass in cls.__mro__:
            if attr in klass.__dict__:
                opts = klass.__dict__[attr]
                break
        if opts is not None and not isinstance(opts, _PortOptions):
            msg = (
                f"{cls.__qualname__}.{attr} is a port, so its value must come from"
                f" fbp.port(...), not {opts!r}"
            )
            raise ComponentDefinitionError(msg)
        name = _port_name(attr)
        if name in seen:
            msg = (
                f"{cls.__qualname__} declares ports {seen[name]!r} and {attr!r}, which"
                " both map to the port name"
                f" {name.upper()!r} (port names ignore case and a trailing underscore)"
            )
            raise ComponentDefinitionError(msg)
        seen[name] = attr
        spec = PortSpec(
            name=name,
            attr=attr,
            direction=direction,  # type: ignore[arg-type]
            tp=tp,
            array=array,
            optional=opts.optional if opts else direction == "out",
            description=opts.description if opts else "",
            default=opts.default if opts else MISSING,
            fixed_size=opts.fixed_size if opts else None,
            causal=opts.causal if opts else True,
        )
        (inports if direction == "in" else outports).append(spec)
    doc = inspect.getdoc(cls) or ""
    if cls.__doc__ is None:
        doc = ""
    looper = not _defines(cls, "process")
    activation: tuple[str, ...] = ()
    if not looper:
        activation = _activation_ports(cls, inports)
    return ComponentSpec(
        cls=cls,
        description=doc.split("\n\n")[0].replace("\n", " ").strip(),
        doc=doc,
        inports=tuple(inports),
        outports=tuple(outports),
        looper=looper,
        activation_ports=activation,
    )


def _activation_ports(cls: type[Component], inports: list[PortSpec]) -> tuple[str, ...]:
    sig = inspect.signature(cls.process)  # type: ignore[attr-defined]
    by_attr = {p.attr: p for p in inports}
    by_name = {p.name: p for p in inports}
    names: list[str] = []
    for i, (pname, param) in enumerate(sig.parameters.items()):
        if i == 0:
            continue  # self
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            msg = f"{cls.__qualname__}.process() cannot take *args or **kwargs"
            raise ComponentDefinitionError(msg)
        p = by_attr.get(pname) or by_name.get(pname.lower())
        if p is None:
            import difflib

            close = difflib.get_close_matches(pname, list(by_attr), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = (
                f"{cls.__qualname__}.process() takes {pname!r}, which is not an input"
                f" port of the component (its input ports: {', '.join(by_attr) or 'none'})"
                f"{hint}"
            )
            raise ComponentDefinitionError(msg)
        if p.array:
            msg = (
                f"{cls.__qualname__}.process() cannot take the array port {pname!r};"
                " read array ports in a looper (run())"
            )
            raise ComponentDefinitionError(msg)
        names.append(p.name)
    if not names:
        msg = (
            f"{cls.__qualname__}.process() takes no input port, so it would never be"
            " activated; name at least one input port as a parameter, or write run()"
        )
        raise ComponentDefinitionError(msg)
    return tuple(names)
