"""The package's import graph: the folders are layers that import only downward, no module
imports another's private name, and there is no import cycle. Read from the source with `ast`
(every import, at module level or inside a function), so it fails on the code as written."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "pgjax"
# The layers, lowest first; a module may import its own layer and the ones below it.
LAYERS = {
    "kernels": 0,
    "envs": 1,
    "training": 2,
    "algorithms": 3,
    "rlhf": 3,
    "runs": 4,
    "cli": 5,
}
# Same rank, yet independent: neither may import the other.
SIBLINGS = {frozenset({"algorithms", "rlhf"})}


# NamedTuple's public API starts with an underscore.
NAMEDTUPLE_API = {"_fields", "_replace", "_asdict", "_make", "_field_defaults"}


def module_name(path: pathlib.Path, package: pathlib.Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: pathlib.Path = PACKAGE) -> dict[str, pathlib.Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def imports(path: pathlib.Path):
    """`(imported module, names imported from it, line)` for every pgjax import in the file;
    `names` holds the names of `from X import a, b` (module attributes used as `X._name` are
    found by `private_attributes`)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pgjax"):
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert not node.level, f"{path}:{node.lineno}: pgjax imports absolutely"
            if node.module.startswith("pgjax"):
                yield node.module, [a.name for a in node.names], node.lineno


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def resolve(imported: str, names: list[str], known: dict) -> list[str]:
    """The modules an import statement depends on: `from pgjax.runs import api` is the module
    `pgjax.runs.api`, `from pgjax.runs.api import run` is `pgjax.runs.api`."""
    targets = [f"{imported}.{n}" for n in names if f"{imported}.{n}" in known]
    return targets or [imported]


def graph(package: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    known = modules(package)
    edges = {name: set() for name in known}
    for name, path in known.items():
        for imported, names, _ in imports(path):
            edges[name].update(t for t in resolve(imported, names, known) if t in known)
    return edges


def upward_imports(package: pathlib.Path = PACKAGE) -> list[str]:
    problems = []
    known = modules(package)
    for name, path in known.items():
        mine = layer(name)
        for imported, names, line in imports(path):
            for target in resolve(imported, names, known):
                theirs = layer(target)
                if mine is None or theirs is None or mine == theirs:
                    continue
                if LAYERS[theirs] > LAYERS[mine] or frozenset({mine, theirs}) in SIBLINGS:
                    problems.append(f"{name}:{line} -> {target}")
    return problems


def test_no_module_imports_a_higher_layer_or_a_sibling():
    problems = upward_imports()
    assert not problems, "imports from a higher layer:\n" + "\n".join(problems)


def test_top_level_package_imports_only_the_kernels():
    for imported, _names, line in imports(PACKAGE / "__init__.py"):
        assert imported == "pgjax.kernels", f"pgjax/__init__.py:{line} imports {imported}"


def private_attributes(path: pathlib.Path):
    """`(module alias, attribute, line)` for every `alias._name` where `alias` was bound by an
    import of a pgjax module."""
    tree = ast.parse(path.read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pgjax"):
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pgjax"):
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            yield node.value.id, node.attr, node.lineno


def private_uses(package: pathlib.Path = PACKAGE) -> list[str]:
    """Private names used outside their module. A private module (`pgjax.kernels._checks`)
    may be imported by the modules of its own package, not its private names."""
    problems = []
    for name, path in modules(package).items():
        own_package = name.rsplit(".", 1)[0]
        for imported, names, line in imports(path):
            parent, _, last = imported.rpartition(".")
            if last.startswith("_") and not last.startswith("__") and parent != own_package:
                problems.append(f"{name}:{line} imports the private module {imported}")
            for item in names:
                private = item.startswith("_") and not item.startswith("__")
                if private and not (
                    imported == own_package and f"{imported}.{item}" in modules(package)
                ):
                    problems.append(f"{name}:{line} imports {item} from {imported}")
        for alias, attribute, line in private_attributes(path):
            if attribute not in NAMEDTUPLE_API:
                problems.append(f"{name}:{line} uses {alias}.{attribute}")
    return problems


def test_no_private_name_is_imported_or_used_across_modules():
    problems = private_uses()
    assert not problems, "private names across modules:\n" + "\n".join(problems)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_has_no_cycle():
    edges = graph()
    # A package's __init__ that re-exports its modules is not a dependency of those modules.
    for name in edges:
        edges[name] = {t for t in edges[name] if not name.startswith(t + ".")}
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _fake_package(tmp_path: pathlib.Path, source: str) -> pathlib.Path:
    fake = tmp_path / "pgjax"
    for folder in ("training", "runs", "cli", "kernels"):
        (fake / folder).mkdir(parents=True)
        (fake / folder / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "runs" / "session.py").write_text("_helper = 1\n")
    (fake / "kernels" / "_checks.py").write_text("")
    (fake / "training" / "bad.py").write_text(source)
    return fake


@pytest.mark.parametrize(
    ("source", "check"),
    [
        ("from pgjax.runs.session import Session\n", upward_imports),
        ("from pgjax.cli import main\n", upward_imports),
        ("def f():\n    import pgjax.runs.session\n", upward_imports),
        ("from pgjax.kernels._checks import x\n", private_uses),
        ("from pgjax.kernels import _checks\n", private_uses),
        ("from pgjax.kernels import _checks\n_checks._concrete(1)\n", private_uses),
    ],
)
def test_the_checks_fail_on_what_they_forbid(tmp_path, source, check):
    assert check(_fake_package(tmp_path, source))


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
