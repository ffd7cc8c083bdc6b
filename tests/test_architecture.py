"""The package boundaries the layout promises (README, "How it works"), read from the imports of
every module (those under TYPE_CHECKING included): no import circle, the captioner knows nothing of
the SFU, the SFU builds engines by name only, and a part never imports what composes it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "access",
    "asr",
    "captioner",
    "captionlog",
    "captionserver",
    "client",
    "protocol",
    "sfu",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def imported(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `path` imports, relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module in known:
                yield module
            for alias in node.names:
                if f"{module}.{alias.name}" in known:
                    yield f"{module}.{alias.name}"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(path, known)) - {name} for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_the_captioner_and_its_servers_know_nothing_of_the_sfu(graph: dict[str, set[str]]) -> None:
    for name, deps in graph.items():
        if name.split(".")[0] in ("captioner", "captionserver", "asr"):
            assert not [d for d in deps if d.split(".")[0] == "sfu"], name


def test_only_the_engine_catalog_imports_an_engine(graph: dict[str, set[str]]) -> None:
    engines = {"captioner.whisper.engine", "captioner.kyutai.engine"}
    importers = {name for name, deps in graph.items() if deps & engines}
    assert importers <= {"captioner.engines", *engines}, importers


def test_parts_never_import_the_server_that_composes_them(graph: dict[str, set[str]]) -> None:
    assert [name for name, deps in graph.items() if "sfu.server" in deps] == ["sfu.cli"]


def test_a_circle_is_found() -> None:
    """The check itself can fail."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
