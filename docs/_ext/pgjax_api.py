"""The API reference, generated from the packages' public names at every build, and the check
that each of those names has a docstring.

What is public (`public_api`): a package's `__all__` (documented under the package's name, e.g.
`pgjax.gae`, in the section of the submodule that defines it), and in every public submodule
(no underscore anywhere in its dotted name) its `__all__`, or else the functions and classes
it defines itself. A module or name that another engineer adds is picked up by the next build;
nothing here lists names by hand.

`docs/api/*.rst` are written at `builder-inited` (before autosummary reads them) and are not
committed. Each package page has one section per submodule, in the order in which the
package's docstring first mentions them (the kernels' topics), the others after in
alphabetical order.

A public name without a docstring of its own (a dataclass's or NamedTuple's generated
signature does not count) is a warning naming it and its file, so `sphinx-build -W` fails.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

from sphinx.util import logging

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Package:
    """One page of the reference: `package`'s modules; `namespace`'s `__all__` is documented
    flat under the namespace's name (`pgjax` for the kernels)."""

    page: str
    title: str
    package: str
    namespace: str


@dataclasses.dataclass
class Section:
    """A submodule's section: its names, each the dotted name it is documented under."""

    module: str
    names: list[str]


def is_public_module(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def submodules(package: str) -> list[str]:
    """The public modules below `package`, imported (an import error fails the build)."""
    root = importlib.import_module(package)
    found = []
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if is_public_module(info.name):
            importlib.import_module(info.name)
            found.append(info.name)
    return found


def own_public_names(module: ModuleType) -> list[str]:
    """`__all__`, or the functions and classes the module defines (not those it imports)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


def _mention_order(docstring: str, modules: list[str], package: str) -> list[str]:
    def key(module: str):
        short = module[len(package) + 1 :]
        match = re.search(rf"(?<![\w.]){re.escape(short)}(\.py)?(?![\w])", docstring)
        return (match is None, match.start() if match else 0, module)

    return sorted(modules, key=key)


def public_api(spec: Package) -> tuple[list[str], list[Section]]:
    """(names of the namespace documented outside any submodule's section, the sections)."""
    namespace = importlib.import_module(spec.namespace)
    package = importlib.import_module(spec.package)
    modules = _mention_order(package.__doc__ or "", submodules(spec.package), spec.package)
    sections = {module: Section(module, []) for module in modules}
    exported_ids = set()
    loose = []
    for name in getattr(namespace, "__all__", []):
        obj = getattr(namespace, name)
        exported_ids.add(id(obj))
        home = getattr(obj, "__module__", None)
        target = sections[home].names if home in sections else loose
        target.append(f"{spec.namespace}.{name}")
    for module in modules:
        mod = importlib.import_module(module)
        for name in own_public_names(mod):
            if id(getattr(mod, name)) not in exported_ids:
                sections[module].names.append(f"{module}.{name}")
    return loose, list(sections.values())


def resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


_AUTO_DOCSTRING = re.compile(r"^\w+\(.*\)$", re.DOTALL)  # what dataclass / NamedTuple write


def has_docstring(obj) -> bool:
    doc = obj.__doc__ if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return False
    if inspect.isclass(obj) and _AUTO_DOCSTRING.match(doc.strip()) and "\n" not in doc.strip():
        return not doc.strip().startswith(obj.__name__ + "(")
    return True


def missing_docstrings(names: list[str]) -> list[tuple[str, object]]:
    """(dotted name, object) of each documentable name without a docstring of its own."""
    missing = []
    for dotted in names:
        obj = resolve(dotted)
        if not (inspect.isclass(obj) or callable(obj)):
            continue  # constants: documented by their module's docstring
        if not has_docstring(obj):
            missing.append((dotted, obj))
    return missing


def _location(obj) -> str:
    try:
        return f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
    except (TypeError, OSError):
        return getattr(obj, "__module__", "?")


def _directive(dotted: str) -> str:
    obj = resolve(dotted)
    if inspect.isclass(obj):
        return f".. autoclass:: {dotted}\n   :members:\n   :show-inheritance:\n"
    if callable(obj):
        return f".. autofunction:: {dotted}\n"
    return f".. autodata:: {dotted}\n   :no-value:\n"


def _heading(text: str, underline: str) -> str:
    return f"{text}\n{underline * len(text)}\n"


def page_rst(spec: Package, loose: list[str], sections: list[Section]) -> str:
    parts = [
        ".. This page is generated by docs/_ext/pgjax_api.py at every build: do not edit.\n",
        _heading(spec.title, "="),
        f".. automodule:: {spec.package}\n   :no-members:\n",
    ]
    if spec.namespace != spec.package:
        parts.append(f".. py:module:: {spec.namespace}\n   :no-index:\n")
    groups = ([(None, loose)] if loose else []) + [(s.module, s.names) for s in sections]
    for module, names in groups:
        if module is None:
            parts.append(_heading(f"``{spec.namespace}``", "-"))
        else:
            parts.append(_heading(f"``{module}``", "-"))
            parts.append(f".. automodule:: {module}\n   :no-members:\n")
        # autosummary refuses full names under the current module; pages use full names.
        parts.append(".. currentmodule:: None\n")
        if names:
            parts.append(
                ".. autosummary::\n   :nosignatures:\n\n"
                + "".join(f"   {name}\n" for name in names)
            )
            parts.extend(_directive(name) for name in names)
    return "\n".join(parts)


def index_rst(specs: list[Package]) -> str:
    return "\n".join(
        [
            ".. This page is generated by docs/_ext/pgjax_api.py at every build: do not edit.\n",
            _heading("API reference", "="),
            "Every public name of each package, generated from its modules at every build.\n",
            ".. toctree::\n   :maxdepth: 2\n\n" + "".join(f"   {s.page}\n" for s in specs),
        ]
    )


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app) -> None:
    specs = [Package(*entry) for entry in app.config.pgjax_api_packages]
    out = Path(app.srcdir) / "api"
    out.mkdir(exist_ok=True)
    for spec in specs:
        loose, sections = public_api(spec)
        names = loose + [name for section in sections for name in section.names]
        for dotted, obj in missing_docstrings(names):
            logger.warning(
                "public name %s has no docstring (%s): every public name is documented",
                dotted,
                _location(obj),
                type="pgjax",
                subtype="docstring",
            )
        _write_if_changed(out / f"{spec.page}.rst", page_rst(spec, loose, sections))
    _write_if_changed(out / "index.rst", index_rst(specs))


# Napoleon's Google-style section headers, whose indented bodies Napoleon converts.
_SECTION_HEADER = re.compile(
    r"^\s*(Args|Arguments|Attributes|Examples?|Keyword Args|Keyword Arguments|Methods|Notes?|"
    r"Other Parameters|Parameters|Returns?|Raises?|References|See Also|Todo|Warnings?|Warns|"
    r"Yields?):\s*$"
)
# A paragraph whose indented continuation is RST structure: directive, list item, field.
_LIST_ITEM = re.compile(r"^(?:[*+-]|\d+\.)\s+")
_STRUCTURE = re.compile(r"^(\.\. |[*+-] |\d+\. |#\. |:\w)")


def literal_indented_blocks(app, what, name, obj, options, lines) -> None:
    """pgjax's docstrings indent code and pseudo-code as Markdown does (and as `help()` shows
    well); reStructuredText would read them as block quotes and definition lists. An indented
    block after a blank line, under a paragraph that is neither a directive nor a Google-style
    section header, becomes a literal block, and so does a block indented further than the
    text of the list item above it. Runs before Napoleon."""
    result = []
    i = 0
    while i < len(lines):
        line = lines[i]
        starts_block = (
            i > 0
            and line.startswith((" ", "\t"))
            and line.strip()
            and not lines[i - 1].strip()
            and not line.lstrip().startswith(">>>")
        )
        if starts_block:
            paragraph_start = i - 1
            while paragraph_start > 0 and lines[paragraph_start - 1].strip():
                paragraph_start -= 1
            above = lines[i - 2] if i >= 2 else ""
            first = lines[paragraph_start]
            indent = len(line) - len(line.lstrip())
            item = _LIST_ITEM.match(first)
            if item and indent > len(item[0]) and not above.rstrip().endswith("::"):
                # code indented further than the text of the list item it belongs to
                result.extend([" " * len(item[0]) + "::", ""])
            elif not (
                above.startswith((" ", "\t"))
                or above.rstrip().endswith("::")
                or _SECTION_HEADER.match(above)
                or _STRUCTURE.match(first)
            ):
                result.extend(["::", ""])
        result.append(line)
        i += 1
    lines[:] = result


_CODE_SPAN = re.compile(r"(`[^`]*`)")


def escape_bars(app, what, name, obj, options, lines) -> None:
    """`π(·|s)` is prose in pgjax's docstrings, a substitution reference to reStructuredText:
    outside code spans and indented (literal, math) blocks, `|` is escaped."""
    in_block = False
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith((" ", "\t")):
            in_block = False
        if not in_block and "|" in line and not line.lstrip().startswith(".. math::"):
            parts = _CODE_SPAN.split(line)
            lines[i] = "".join(
                part if part.startswith("`") else part.replace("|", "\\|") for part in parts
            )
        if line.rstrip().endswith("::"):
            in_block = True


def _range(meta: dict) -> str:
    bounds = [
        f"{symbol} {meta[key]}"
        for key, symbol in (("at_least", "≥"), ("above", ">"), ("at_most", "≤"), ("below", "<"))
        if meta.get(key) is not None
    ]
    if meta.get("choices"):
        bounds.append("one of " + ", ".join(f"``{c!r}``" for c in meta["choices"]))
    return ", ".join(bounds)


def config_fields(app, what, name, obj, options, lines) -> None:
    """A configuration's fields (`pgjax.training.config.static` / `hyperparameter`, each with
    its documentation and range in the field's metadata) as a table under its docstring."""
    if what != "class" or not dataclasses.is_dataclass(obj):
        return
    rows = [f for f in dataclasses.fields(obj) if "doc" in f.metadata]
    if not rows:
        return
    lines.extend(["", ".. list-table:: Fields", "   :header-rows: 1", ""])
    lines.extend(
        ["   * - field", "     - default", "     - kind", "     - range", "     - meaning"]
    )
    for field in rows:
        kind = "hyperparameter (traced)" if field.metadata.get("traced") else "static"
        doc = field.metadata["doc"].replace("|", "\\|").replace("*", "\\*")
        lines.extend(
            [
                f"   * - ``{field.name}``",
                f"     - ``{field.default!r}``",
                f"     - {kind}",
                f"     - {_range(field.metadata)}",
                f"     - {doc}",
            ]
        )


def skip_namedtuple_fields(app, what, name, obj, skip, options):
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith("Alias for field number"):
        return True
    return None


def setup(app):
    app.add_config_value("pgjax_api_packages", [], "env")
    # Before autosummary (priority 500) reads the generated pages.
    app.connect("builder-inited", generate, priority=400)
    app.connect("autodoc-process-docstring", literal_indented_blocks, priority=400)
    app.connect("autodoc-process-docstring", escape_bars, priority=401)
    app.connect("autodoc-process-docstring", config_fields, priority=600)  # after Napoleon
    app.connect("autodoc-skip-member", skip_namedtuple_fields)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
