"""A user's own components: modules beside the graph or on the search path.

Run as a user runs them: the ``fbp`` console script in a subprocess, from a directory
other than the graph's, with nothing on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dsl_corpus import dsl_support

from fbp import ComponentNotFoundError
from fbp.graph import Registry, load_graph

SHOP = '''
from fbp import Component, InPort, OutPort


class Discount(Component):
    """Take 10% off every price."""

    in_: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        async for price in self.in_:
            await self.out.send(round(price * 0.9, 2))
'''

FBP = "3 -> COUNT Src(core/Range) OUT -> IN Cut({name}) OUT -> IN Show(core/Output)\n"
JSON = {
    "processes": {
        "Src": {"component": "core/Range"},
        "Cut": {"component": "{name}"},
        "Show": {"component": "core/Output"},
    },
    "connections": [
        {"data": 3, "tgt": {"process": "Src", "port": "COUNT"}},
        {"src": {"process": "Src", "port": "OUT"}, "tgt": {"process": "Cut", "port": "IN"}},
        {"src": {"process": "Cut", "port": "OUT"}, "tgt": {"process": "Show", "port": "IN"}},
    ],
}
YAML = """
processes:
  Src: core/Range
  Cut: {name}
  Show: core/Output
connections:
  - {{data: 3, tgt: Src.COUNT}}
  - Src.OUT -> Cut.IN
  - Cut.OUT -> Show.IN
"""


def graph_text(fmt: str, name: str) -> str:
    if fmt == "fbp":
        return FBP.format(name=name)
    if fmt == "json":
        return json.dumps(JSON).replace("{name}", name)
    return YAML.format(name=name)


def fbp(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script, as installed; no PYTHONPATH, no FBP_PATH unless given."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FBP_PATH")}
    script = Path(sys.executable).parent / "fbp"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "fbp"]
    return subprocess.run(
        [*cmd, *argv], cwd=cwd, capture_output=True, text=True,
        env={**base, **(env or {})}, timeout=60, check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "proj").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "lib").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("fbp", "shop/Discount"), ("json", "shop:Discount"), ("yaml", "shop:Discount"),
     ("yaml", "shop/Discount")],
)
def test_a_module_beside_the_graph_is_found_from_anywhere(
    project: Path, fmt: str, name: str
) -> None:
    (project / "proj" / "shop.py").write_text(SHOP)
    (project / "proj" / f"prices.{fmt}").write_text(graph_text(fmt, name))
    r = fbp("run", f"../proj/prices.{fmt}", cwd=project / "elsewhere")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.0", "0.9", "1.8"]


def test_a_package_beside_the_graph_names_a_nested_collection(project: Path) -> None:
    pkg = project / "proj" / "shop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "pricing.py").write_text(SHOP)
    (project / "proj" / "prices.fbp").write_text(graph_text("fbp", "shop/pricing/Discount"))
    r = fbp("run", "../proj/prices.fbp", cwd=project / "elsewhere")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.0", "0.9", "1.8"]


def test_path_option_and_environment_variable(project: Path) -> None:
    (project / "lib" / "shop.py").write_text(SHOP)
    (project / "proj" / "prices.fbp").write_text(graph_text("fbp", "shop/Discount"))
    where = project / "elsewhere"
    missing = fbp("validate", "../proj/prices.fbp", cwd=where)
    assert missing.returncode == 2  # an invalid graph is bad input
    assert fbp("validate", "../proj/prices.fbp", "--path", "../lib", cwd=where).returncode == 0
    r = fbp("run", "../proj/prices.fbp", cwd=where, env={"FBP_PATH": str(project / "lib")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.0", "0.9", "1.8"]


def test_a_project_file_declares_the_search_path(project: Path) -> None:
    (project / "lib" / "shop.py").write_text(SHOP)
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.fbp]\npath = ["lib"]\n')
    (project / "proj" / "prices.fbp").write_text(graph_text("fbp", "shop/Discount"))
    r = fbp("run", "prices.fbp", cwd=project / "proj")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.0", "0.9", "1.8"]


def test_components_lists_the_modules_of_the_declared_path(project: Path) -> None:
    (project / "lib" / "shop.py").write_text(SHOP)
    (project / "lib" / "setup.py").write_text("raise SystemExit('must not be imported')\n")
    r = fbp("components", "shop", "--path", "../lib", cwd=project / "elsewhere")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "shop/Discount  Take 10% off every price."
    assert "<- IN: float" in r.stdout


def test_the_hint_for_an_unknown_component_names_a_command_that_lists_it(
    project: Path,
) -> None:
    (project / "lib" / "shop.py").write_text(SHOP)
    (project / "proj" / "prices.fbp").write_text(graph_text("fbp", "shop/Discont"))
    where = project / "elsewhere"
    r = fbp("validate", "../proj/prices.fbp", "--path", "../lib", cwd=where)
    assert r.returncode == 2
    assert "did you mean 'shop/Discount'?" in r.stderr
    hint = "'fbp components' lists every component it finds (with --path DIR, those of"
    assert hint in r.stderr
    listed = fbp("components", "--path", "../lib", cwd=where)  # the command it names
    assert listed.returncode == 0, listed.stderr
    assert "shop/Discount  Take 10% off every price." in listed.stdout.splitlines()


def test_a_module_not_found_says_where_it_looked_and_what_to_do(project: Path) -> None:
    (project / "proj" / "prices.json").write_text(graph_text("json", "shop:Discount"))
    r = fbp("run", "../proj/prices.json", cwd=project / "elsewhere")
    assert r.returncode == 2  # a component that cannot be found is bad input
    assert "cannot import 'shop'" in r.stderr
    assert str((project / "proj").resolve()) in r.stderr  # the graph's directory was searched
    assert "put shop.py (or a package shop/) beside the graph" in r.stderr
    assert "--path DIR, FBP_PATH or [tool.fbp] path in pyproject.toml" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_module_that_fails_to_import_shows_its_own_error(tmp_path: Path) -> None:
    (tmp_path / "broken_shop.py").write_text("import not_a_real_dependency\n")
    with pytest.raises(ComponentNotFoundError, match="importing 'broken_shop' failed") as e:
        Registry().resolve("broken_shop/Discount", base_dir=tmp_path)
    assert "not_a_real_dependency" in str(e.value)


def test_a_module_without_the_component_lists_what_it_has(tmp_path: Path) -> None:
    (tmp_path / "shop_b.py").write_text(SHOP)
    with pytest.raises(ComponentNotFoundError, match="did you mean 'shop_b/Discount'") as e:
        Registry().resolve("shop_b/Discuont", base_dir=tmp_path)
    assert "its components: Discount" in str(e.value)


def test_servers_that_forbid_imports_do_not_search(tmp_path: Path) -> None:
    (tmp_path / "shop_c.py").write_text(SHOP)
    with pytest.raises(ComponentNotFoundError, match="no collection 'shop_c'"):
        Registry(allow_imports=False).resolve("shop_c/Discount", base_dir=tmp_path)


@pytest.mark.node
def test_the_collection_syntax_is_valid_fbp_for_the_reference_parser(tmp_path: Path) -> None:
    text = graph_text("fbp", "shop/pricing/Discount")
    (record,) = dsl_support.run_reference([(text, True)])
    assert record["ok"], record
    assert record["graph"]["processes"]["Cut"] == {"component": "shop/pricing/Discount"}
    path = tmp_path / "g.fbp"
    path.write_text(text)
    assert load_graph(path).to_dict()["processes"]["Cut"]["component"] == "shop/pricing/Discount"
