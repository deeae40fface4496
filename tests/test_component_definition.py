"""A component class written wrongly is refused when it is defined, with the fix."""

from __future__ import annotations

from typing import Any

import pytest

from fbp import Component, ComponentDefinitionError, InPort, OutPort, port
from fbp._core._component import _reserved_names

RESERVED = sorted(_reserved_names())


def test_the_reserved_names_are_every_attribute_of_component() -> None:
    assert {"log", "name", "run", "process", "finish", "spec", "forward_brackets"} <= set(
        RESERVED
    )
    public = {n for n in dir(Component) if not n.startswith("__")}
    assert public <= set(RESERVED)


@pytest.mark.parametrize("attr", RESERVED)
@pytest.mark.parametrize("kind", ["InPort", "OutPort", "ArrayInPort", "ArrayOutPort"])
@pytest.mark.parametrize("postponed", [True, False], ids=["str-annotations", "annotations"])
def test_a_port_named_like_a_component_attribute_is_refused_at_definition(
    attr: str, kind: str, postponed: bool
) -> None:
    import fbp

    source = f"class Bad(Component):\n    {attr}: {kind}[int]\n"
    # This module postpones annotations (they stay text); without it they are objects.
    code = compile(source, "<class>", "exec", dont_inherit=not postponed)
    namespace: dict[str, Any] = {"Component": Component, kind: getattr(fbp, kind)}
    with pytest.raises(ComponentDefinitionError) as info:
        exec(code, namespace)  # a class statement, as a user writes it
    text = str(info.value)
    assert text.startswith(f"Bad.{attr}: a port attribute cannot be named {attr!r}")
    assert f"name the attribute {attr + '_'!r} (the port keeps the name {attr.upper()!r}" in text


def test_a_port_declared_with_options_only_is_refused_too() -> None:
    with pytest.raises(ComponentDefinitionError, match="the process's logger"):

        class Bad(Component):
            log: Any = port(description="not a logger")


def test_the_same_names_with_a_trailing_underscore_are_ports_with_those_names() -> None:
    class Fine(Component):
        log_: InPort[str]
        name_: OutPort[str]

        async def run(self) -> None:
            async for x in self.log_:
                self.log.info("seen", x=x)
                await self.name_.send(x)

    spec = Fine.spec()
    assert [p.name for p in spec.inports] == ["log"]
    assert [p.name for p in spec.outports] == ["name"]


def test_attributes_that_are_not_ports_may_use_any_name() -> None:
    class Plain(Component):
        out: OutPort[int]
        name: str  # the runtime's own attribute, re-annotated: not a port

        async def run(self) -> None:
            await self.out.send(1)

    assert [p.name for p in Plain.spec().outports] == ["out"]


async def test_a_port_named_log_no_longer_breaks_shutdown() -> None:
    from fbp.testing import run_component_async

    class Logs(Component):
        log_: InPort[int]
        out: OutPort[int]

        async def run(self) -> None:
            async for x in self.log_:
                self.log.info("passing on", x=x)
                await self.out.send(x)

    assert await run_component_async(Logs, inputs={"log": [1, 2]}) == {"out": [1, 2]}
