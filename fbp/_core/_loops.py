"""Compiled loops: ``async for x in self.in_: ...`` run by a loop in C.

A looper written as the README shows spends most of a hop in the interpreter's
asynchronous iteration, not in its own code: ``async for`` asks the port for an
awaitable and awaits it, ``await self.out.send(y)`` does the same again, and each await
goes through the coroutine machinery. Here such a loop is rewritten, once per ``run``
function, into a plain function of the item (the *step*: the loop's body, whose final
send became ``return``) and one call of ``drive`` (:mod:`fbp._core._fastports`), a loop
in C that receives, calls the step and sends. It takes a port's common case at once
and otherwise calls the port's own method (``__anext__``, ``send``) and awaits what it
returns, as the interpreter would: waits, brackets, the end of the stream, validation,
tracing, lineage, deadlock reports and cancellation are the ports' own code, unchanged.

Which loops (anything else runs as written):

- an ``async for TARGET in self.PORT:`` or a ``for TARGET in ITERABLE:`` whose body
  sends (no ``else``) of ``async def run(self)``, among its statements or in the
  blocks of its ``if``, ``try`` and ``with`` statements (not inside another loop or a
  nested function); the rest of ``run`` (code before and after the loop, awaits
  included) runs as written;
- whose body awaits nothing but sends, ``await PORT.send(value)`` or
  ``await PORT.send(value, parents=p)``, each the last statement of the body or of an
  ``if``/``elif``/``else`` branch that ends it; ``continue`` and ``break`` are allowed,
  ``return``, ``global``/``nonlocal`` and the names ``locals``, ``vars``, ``dir``,
  ``eval`` and ``exec`` (which see the scope) are not;
- of a function whose source is the code that runs (compiled again from its file, it
  must give the same code object), without a closure (``super()``, or a ``run``
  defined inside another function, keeps its loops as written).

The step declares ``nonlocal`` the names the body binds, so they stay variables of
``run``: what the loop leaves behind (a count, the last item) reads the same after it,
and a function made in the body sees them as it did. Only the loop's targets, bound
anew by every iteration, are the step's own when nothing else in ``run`` mentions them
and the body makes no function that could read them later. When every send goes to the same
``self.OUT`` without parents, the step returns just the value and the loop reads
``self.OUT`` once, when it starts (a body that assigns an attribute of that name, or
calls ``setattr``/``delattr``, keeps the other form: the step returns the port with the
value, evaluated in the order Python evaluates them). A body that only sends ``F(x)``,
where ``F`` is a variable of ``run`` assigned before the loop and not after, has no
step at all: the loop calls ``F``; one that sends ``x`` as it came sends it.

``FBP_NO_LOOPS=1`` turns compiling off; without the C extension (or with
``FBP_NO_ACCEL``) nothing is compiled.
"""

from __future__ import annotations

import ast
import inspect
import os
import types
import weakref
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ("compiled_run", "run_looper")

_SKIP = object()  # what a step returns when the body sent nothing (or continue)
_STOP = object()  # what a step returns for break
_DRIVE = "__fbp_drive"
_SKIP_NAME = "__fbp_skip"
_STOP_NAME = "__fbp_stop"
_ITEM = "__fbp_item"
_SCOPE_READERS = frozenset({"locals", "vars", "dir", "eval", "exec"})
_Run = Callable[..., Coroutine[Any, Any, None]]
# By the code of the function compiled, for as long as that code lives (a class defined
# again, in a notebook say, does not keep the old one's).
_cache: weakref.WeakKeyDictionary[types.CodeType, _Run | None] = weakref.WeakKeyDictionary()


def _drive() -> Any:
    from . import _fast

    if os.environ.get("FBP_NO_LOOPS") or not _fast.active():
        return None
    from . import _fastports  # type: ignore[attr-defined]  # built: _fast is active

    return _fastports.drive


def compiled_run(fn: Any) -> _Run | None:
    """``fn`` (a component's ``run``) with its receive loops compiled, or None when it
    has none that can be (see the module doc) or compiling is off."""
    drive = _drive()
    if drive is None or not isinstance(fn, types.FunctionType):
        return None
    code = fn.__code__
    try:
        return _cache[code]
    except KeyError:
        pass
    try:
        made = _compile(fn, drive)
    except Exception:  # no source, or not ours to read: the loops run as written
        made = None
    _cache[code] = made
    return made


def run_looper(component: Any) -> Coroutine[Any, Any, None]:
    """``component.run()``, its receive loops compiled where they can be."""
    run = getattr(type(component), "run", None)
    fast = None if "run" in getattr(component, "__dict__", ()) else compiled_run(run)
    return component.run() if fast is None else fast(component)


# -- rewriting ------------------------------------------------------------------------


class _NotCompiled(Exception):
    """The loop is left as written."""


def _compile(fn: types.FunctionType, drive: Any) -> _Run | None:
    code = fn.__code__
    if code.co_freevars or not inspect.iscoroutinefunction(fn):
        return None
    lines, first = inspect.getsourcelines(fn)
    if first != code.co_firstlineno:
        return None
    # Parsed where it stands, columns included (an indented one under an `if 1:` line),
    # so that its code compiled again can be compared with the running one.
    text = "".join(lines)
    nested = text[:1].isspace()
    tree = ast.parse("if 1:\n" + text if nested else text)
    node: ast.stmt = tree.body[0]
    if nested:
        assert isinstance(node, ast.If)
        node = node.body[0]
    if not isinstance(node, ast.AsyncFunctionDef) or node.name != code.co_name:
        return None
    if node.decorator_list:
        return None
    ast.increment_lineno(tree, first - 1 - nested)
    if _code_of(ast.Module(body=[node], type_ignores=[]), code) != code:
        return None  # the file changed since it was imported, or names were mangled
    maker = _rewrite(node)
    if maker is None:
        return None
    mod = ast.Module(body=[maker], type_ignores=[])
    ast.fix_missing_locations(mod)
    made_code = compile(
        mod, code.co_filename, "exec", dont_inherit=True, flags=_future_flags(code)
    )
    maker_code = next(c for c in made_code.co_consts if isinstance(c, types.CodeType))
    make = types.FunctionType(maker_code, fn.__globals__, "__fbp_make")
    new: types.FunctionType = make(drive, _SKIP, _STOP)
    # Its frames and the step's read as the function's own (``Stage.run``).
    consts = tuple(
        c.replace(co_qualname=code.co_qualname) if isinstance(c, types.CodeType) else c
        for c in new.__code__.co_consts
    )
    new.__code__ = new.__code__.replace(co_consts=consts, co_qualname=code.co_qualname)
    new.__qualname__ = fn.__qualname__
    new.__module__ = fn.__module__
    new.__doc__ = fn.__doc__
    new.__defaults__ = fn.__defaults__
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__annotations__ = fn.__annotations__
    new.__dict__.update(fn.__dict__)
    return new


def _code_of(mod: ast.Module, like: types.CodeType) -> types.CodeType | None:
    made = compile(mod, like.co_filename, "exec", dont_inherit=True, flags=_future_flags(like))
    for c in made.co_consts:
        if isinstance(c, types.CodeType) and c.co_name == like.co_name:
            return c
    return None


def _future_flags(code: types.CodeType) -> int:
    import __future__

    flags = 0
    for name in __future__.all_feature_names:
        feature = getattr(__future__, name)
        if code.co_flags & feature.compiler_flag:
            flags |= feature.compiler_flag
    return flags


def _rewrite(fn: ast.AsyncFunctionDef) -> ast.FunctionDef | None:
    """``def __fbp_make(drive, skip, stop): <fn, loops compiled>; return fn``, or None
    when no loop of ``fn`` can be compiled."""
    args = fn.args
    if args.posonlyargs or len(args.args) != 1 or args.vararg or args.kwonlyargs or args.kwarg:
        return None
    if any(isinstance(n, (ast.Nonlocal, ast.Global)) for n in ast.walk(fn)):
        return None
    if {_DRIVE, _SKIP_NAME, _STOP_NAME, _ITEM} & _names(fn.body):
        return None
    rewriter = _Rewriter(fn)
    body = rewriter.block(fn.body, top=True)
    if not rewriter.changed:
        return None
    new_fn = ast.AsyncFunctionDef(
        name=fn.name,
        args=fn.args,
        body=body,
        decorator_list=[],
        returns=fn.returns,
        type_comment=None,
    )
    ast.copy_location(new_fn, fn)
    maker = ast.FunctionDef(
        name="__fbp_make",
        args=ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg=_DRIVE), ast.arg(arg=_SKIP_NAME), ast.arg(arg=_STOP_NAME)],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        ),
        body=[new_fn, ast.Return(value=ast.Name(id=fn.name, ctx=ast.Load()))],
        decorator_list=[],
        returns=None,
        type_comment=None,
    )
    ast.copy_location(maker, fn)
    return maker


class _Rewriter:
    """Finds the loops of a ``run`` that can be compiled and rewrites them: those in
    its statements, and in the blocks of its ``if``, ``try`` and ``with`` statements
    (not in other loops or in nested functions)."""

    def __init__(self, fn: ast.AsyncFunctionDef) -> None:
        self.fn = fn
        self.me = fn.args.args[0].arg
        self.changed = False

    def block(self, stmts: list[ast.stmt], *, top: bool = False) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for k, stmt in enumerate(stmts):
            if isinstance(stmt, (ast.AsyncFor, ast.For)):
                try:
                    bound = self._bound(stmts[:k], stmts[k + 1 :]) if top else set()
                    out.extend(self.loop(stmt, bound))
                    self.changed = True
                    continue
                except _NotCompiled:
                    pass
            elif isinstance(stmt, ast.If):
                stmt.body = self.block(stmt.body)
                stmt.orelse = self.block(stmt.orelse)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                stmt.body = self.block(stmt.body)
            elif isinstance(stmt, (ast.Try, ast.TryStar)):
                stmt.body = self.block(stmt.body)
                for h in stmt.handlers:
                    h.body = self.block(h.body)
                stmt.orelse = self.block(stmt.orelse)
                stmt.finalbody = self.block(stmt.finalbody)
            out.append(stmt)
        return out

    def _bound(self, before: list[ast.stmt], after: list[ast.stmt]) -> set[str]:
        """Variables of run assigned, for sure, before the loop, and never after it."""
        names = {
            t.id
            for s in before
            if isinstance(s, ast.Assign)
            for t in s.targets
            if isinstance(t, ast.Name)
        }
        return names - _assigned(after) - {self.me}

    def loop(self, loop: ast.AsyncFor | ast.For, bound: set[str]) -> list[ast.stmt]:
        """The statements that replace ``loop``: the step's definition and the drive."""
        me = self.me
        it = loop.iter
        sync = isinstance(loop, ast.For)
        if loop.orelse:
            raise _NotCompiled
        if sync:
            _no_await(it)
        elif not (
            isinstance(it, ast.Attribute) and isinstance(it.value, ast.Name) and it.value.id == me
        ):
            raise _NotCompiled
        _check(loop.body)
        outside = _outside(self.fn.body, loop)
        if "run" in outside or "run" in _names(loop.body):
            raise _NotCompiled  # the step is bound to the name run (see below)
        targets = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
        assigned = _assigned(loop.body) | targets
        sends: list[_Send] = []
        body = [_Exits().visit(st) for st in _tail(loop.body, me, sends)]
        if sync and not sends:
            raise _NotCompiled  # it awaits nothing: a loop like any other
        ports = {ast.dump(snd.port) for snd in sends}
        single = (
            len(ports) == 1
            and all(snd.parents is None for snd in sends)
            and isinstance(sends[0].port, ast.Attribute)
            and isinstance(sends[0].port.value, ast.Name)
            and sends[0].port.value.id == me
            and not _rebinds(loop.body, sends[0].port.attr)
        )
        for snd in sends:
            elts = [snd.port, snd.value] + ([snd.parents] if snd.parents is not None else [])
            snd.ret.value = snd.value if single else ast.Tuple(elts=elts, ctx=ast.Load())
        # The loop's targets are the step's own variables (the target its argument)
        # unless run reads them elsewhere, or a function made in the body may read them
        # later (it would see the step's).
        later = any(isinstance(n, _LATER) for st in loop.body for n in ast.walk(st))
        own = set() if later else targets - outside  # bound anew by every iteration
        simple = isinstance(loop.target, ast.Name) and loop.target.id in own
        param = loop.target.id if isinstance(loop.target, ast.Name) and simple else _ITEM
        kept = sorted(assigned - own)
        head: list[ast.stmt] = []
        if kept:
            head.append(ast.Nonlocal(names=kept))
        if not simple:
            head.append(ast.Assign(targets=[loop.target], value=ast.Name(id=_ITEM, ctx=ast.Load())))
        for st in head:
            ast.copy_location(st, loop)
        end = ast.Return(value=ast.Name(id=_SKIP_NAME, ctx=ast.Load()))
        ast.copy_location(end, loop.body[-1])
        step = ast.FunctionDef(
            name="run",
            args=ast.arguments(
                posonlyargs=[],
                args=[ast.arg(arg=param)],
                kwonlyargs=[],
                kw_defaults=[],
                defaults=[],
            ),
            body=[*head, *body, end],
            decorator_list=[],
            returns=None,
            type_comment=None,
        )
        ast.copy_location(step, loop)
        direct = _direct(body, param, bound - assigned) if single and simple and not kept else None
        pick = _pick(body, loop.target, own) if single and not kept else None
        out_port: ast.expr = sends[0].port if single else ast.Constant(value=None)
        call = ast.Expr(
            value=ast.Await(
                value=ast.Call(
                    func=ast.Name(id=_DRIVE, ctx=ast.Load()),
                    args=[
                        it,
                        ast.Constant(value=None)
                        if direct == "None"
                        else ast.Name(id=direct or "run", ctx=ast.Load()),
                        out_port,
                        ast.Name(id=_SKIP_NAME, ctx=ast.Load()),
                        ast.Name(id=_STOP_NAME, ctx=ast.Load()),
                        ast.Constant(value=bool(sends) and not single),
                        ast.Constant(value=sync),
                        *(ast.Constant(value=v) for v in pick or ()),
                    ],
                    keywords=[],
                )
            )
        )
        declared: list[ast.stmt] = []
        if kept:
            # Variables of run that the step binds: declared in run (by a statement that
            # never runs), since the loop that bound them is gone from its code.
            declared.append(
                ast.If(
                    test=ast.Constant(value=False),
                    body=[
                        ast.Assign(
                            targets=[ast.Name(id=n, ctx=ast.Store()) for n in kept],
                            value=ast.Constant(value=None),
                        )
                    ],
                    orelse=[],
                )
            )
        for st in [*declared, call]:
            for n in ast.walk(st):
                ast.copy_location(n, loop)
        if direct:
            return [call]
        # The step is named run, as tracebacks then say of its frames ("in run").
        return [*declared, step, call]


def _outside(stmts: list[ast.stmt], loop: ast.AsyncFor | ast.For) -> set[str]:
    """The names ``stmts`` mention anywhere but in the loop's target and body."""
    parts: list[ast.AST] = [loop.target, *loop.body]
    inside = Counter(n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name))
    every = Counter(n.id for st in stmts for n in ast.walk(st) if isinstance(n, ast.Name))
    return {name for name, k in every.items() if k > inside[name]}


class _Send:
    """A send the body ends with: its port, value and parents, and the return that
    replaced it (its value set once every send is known)."""

    __slots__ = ("parents", "port", "ret", "value")

    def __init__(self, port: ast.expr, value: ast.expr, parents: ast.expr | None) -> None:
        self.port = port
        self.value = value
        self.parents = parents
        self.ret = ast.Return(value=None)


def _direct(body: list[ast.stmt], param: str, fixed: set[str]) -> str | None:
    """F when the body is ``await self.OUT.send(F(x))`` with F a variable of run that
    is fixed while the loop runs: the loop calls F itself, with no step between;
    ``"None"`` when it is ``await self.OUT.send(x)``: the loop sends the item."""
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    call = body[0].value
    if isinstance(call, ast.Name) and call.id == param:
        return "None"
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id in fixed
        and call.func.id != param
        and len(call.args) == 1
        and not call.keywords
        and isinstance(call.args[0], ast.Name)
        and call.args[0].id == param
    ):
        return call.func.id
    return None


def _pick(body: list[ast.stmt], target: ast.expr, own: set[str]) -> tuple[int, int] | None:
    """(k, n) when the loop is ``async for a, b in ...: await self.OUT.send(b)``: its
    target n names of the step's own and the body sending the k-th: the loop sends
    element k of an item that is a tuple of n (an array port's ``(index, value)``
    taken without making the pair) and calls the step for any other item."""
    if not isinstance(target, ast.Tuple) or len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    names = [e.id for e in target.elts if isinstance(e, ast.Name)]
    sent = body[0].value
    if (
        len(names) != len(target.elts)
        or len(set(names)) != len(names)
        or not set(names) <= own
        or not isinstance(sent, ast.Name)
        or sent.id not in names
    ):
        return None
    return names.index(sent.id), len(names)


def _rebinds(body: list[ast.stmt], attr: str) -> bool:
    """Whether the body may rebind a port read once (``self.attr``): assigns or
    deletes an attribute of that name, or calls setattr or delattr."""
    for stmt in body:
        for n in ast.walk(stmt):
            if (
                isinstance(n, ast.Attribute)
                and n.attr == attr
                and isinstance(n.ctx, (ast.Store, ast.Del))
            ):
                return True
            if isinstance(n, ast.Name) and n.id in ("setattr", "delattr"):
                return True
    return False


def _send_of(stmt: ast.stmt) -> _Send | None:
    """``await PORT.send(value)`` or ``await PORT.send(value, parents=P)`` as a
    statement."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Await)):
        return None
    call = stmt.value.value
    if not (isinstance(call, ast.Call) and len(call.args) == 1):
        return None
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr == "send"):
        return None
    if isinstance(call.args[0], ast.Starred):
        return None
    parents = None
    if call.keywords:
        if len(call.keywords) != 1 or call.keywords[0].arg != "parents":
            return None
        parents = call.keywords[0].value
    for part in (f.value, call.args[0], *([parents] if parents is not None else [])):
        _no_await(part)
    return _Send(f.value, call.args[0], parents)


def _tail(stmts: list[ast.stmt], me: str, sends: list[_Send]) -> list[ast.stmt]:
    """``stmts`` with the sends that end them made returns (see the module doc)."""
    *head, last = stmts
    for st in head:
        _no_await(st)
    snd = _send_of(last)
    if snd is not None:
        sends.append(snd)
        ast.copy_location(snd.ret, last)
        return [*head, snd.ret]
    if isinstance(last, ast.If):
        _no_await(last.test)
        new_if = ast.If(
            test=last.test,
            body=_tail(last.body, me, sends),
            orelse=_tail(last.orelse, me, sends) if last.orelse else [],
        )
        ast.copy_location(new_if, last)
        return [*head, new_if]
    _no_await(last)
    return [*head, last]


def _no_await(node: ast.AST) -> None:
    for n in ast.walk(node):
        if isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith, ast.Yield, ast.YieldFrom)):
            raise _NotCompiled


_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LATER = (*_NESTED, ast.GeneratorExp)  # code that may run after the iteration
_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _check(body: list[ast.stmt]) -> None:
    """What the step cannot do as the loop's body did: leave the function, or read
    its scope."""
    for stmt in body:
        for n in _walk_own(stmt):
            if isinstance(n, ast.Return):
                raise _NotCompiled
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and n.id in _SCOPE_READERS:
                raise _NotCompiled


def _walk_own(node: ast.AST) -> list[ast.AST]:
    """The nodes of ``node`` in the step's own scope (nested functions, classes and
    comprehensions are there, but not their insides)."""
    found: list[ast.AST] = []
    todo = [node]
    while todo:
        n = todo.pop()
        found.append(n)
        if not isinstance(n, (*_NESTED, *_COMPS)):
            todo.extend(ast.iter_child_nodes(n))
    return found


class _Exits(ast.NodeTransformer):
    """``continue`` and ``break`` of the compiled loop: ``return __fbp_skip`` and
    ``return __fbp_stop`` (those of loops inside the body are left alone)."""

    def _exit(self, node: ast.stmt, name: str) -> ast.AST:
        ret = ast.Return(value=ast.Name(id=name, ctx=ast.Load()))
        return ast.copy_location(ret, node)

    def visit_Continue(self, node: ast.Continue) -> ast.AST:
        return self._exit(node, _SKIP_NAME)

    def visit_Break(self, node: ast.Break) -> ast.AST:
        return self._exit(node, _STOP_NAME)

    def _inner_loop(self, node: Any) -> Any:
        node.orelse = [self.visit(st) for st in node.orelse]
        return node

    visit_For = visit_While = visit_AsyncFor = _inner_loop

    def _nested(self, node: Any) -> Any:
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _nested


def _assigned(body: list[ast.stmt]) -> set[str]:
    """The names the body binds in its own scope (what the step declares nonlocal)."""
    names: set[str] = set()
    for stmt in body:
        for n in _walk_own(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                names.add(n.id)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                for alias in n.names:
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(n, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and n.name:
                names.add(n.name)
            elif isinstance(n, ast.MatchMapping) and n.rest:
                names.add(n.rest)
        # An assignment expression in a comprehension binds in the enclosing scope.
        for n in ast.walk(stmt):
            if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
                names.add(n.target.id)
    return names


def _names(stmts: list[ast.stmt]) -> set[str]:
    """Every name that ``stmts`` mention (read or bound), at any depth."""
    return {n.id for st in stmts for n in ast.walk(st) if isinstance(n, ast.Name)}
