"""The packages' layers: which package may import which, over every module, imports inside
functions included. Dependencies point one way:

    core ← agency ← stats ← money ← accounts ← cards
                                        ↖ support
    web on top of all of them; only web knows HTTP (litestar).

`piccolo_conf` (the engine Piccolo reads, and the app registry) is configuration, not a layer:
core looks the engine up there."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOMAIN = {"agency", "stats", "money", "accounts", "cards", "support"}
PROJECT = {"core", "web", *DOMAIN}
MAY_IMPORT = {
    "core": set(),
    "agency": {"core"},
    "stats": {"core", "agency"},
    "money": {"core", "agency", "stats"},
    "accounts": {"core", "agency", "stats", "money"},
    "cards": {"core", "agency", "stats", "money", "accounts"},
    "support": {"core", "agency", "stats", "money", "accounts"},
    "web": {"core", *DOMAIN},
}
HTTP = {"litestar", "litestar_htmx", "uvicorn", "httpx"}


def imported_roots(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in the source, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def forbidden_imports(package: str, source: str) -> list[str]:
    problems = []
    for line, root in imported_roots(source):
        if root in PROJECT and root != package and root not in MAY_IMPORT[package]:
            problems.append(f"{line}: imports {root}")
        elif root in HTTP and package != "web":
            problems.append(f"{line}: imports {root} (only web knows HTTP)")
    return problems


def test_every_module_keeps_to_its_layer():
    offenders = []
    for package in MAY_IMPORT:
        modules = sorted((ROOT / package).rglob("*.py"))
        assert modules, package
        for module in modules:
            for problem in forbidden_imports(package, module.read_text()):
                offenders.append(f"{module.relative_to(ROOT)}:{problem}")
    assert offenders == []


def test_the_check_sees_imports_inside_functions():
    source = "import datetime\n\ndef f():\n    from cards.tables import Card\n    import litestar\n"
    assert forbidden_imports("accounts", source) == ["4: imports cards", "5: imports litestar (only web knows HTTP)"]
    assert forbidden_imports("core", "from agency import audit\n") == ["1: imports agency"]
    assert forbidden_imports("web", "from cards import codes\nimport litestar\n") == []
