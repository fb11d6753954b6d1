"""The documentation's examples run and its links resolve.

* Every `>>>` example in a docstring of pgjax runs (doctest), and so does every ```` ```pycon ````
  block of README.md and the guides in docs/: examples are small, so this stays fast.
* Every relative link and image in README.md and the Markdown pages of docs/ names a file of the
  repository (and, with `#anchor`, a heading of that file), so it works on GitHub as in the
  built site.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pathlib
import pkgutil
import re

import pytest

import pgjax

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# docs/api/ and docs/notebooks/ are written by the build; _build is its output.
GENERATED = ("_build", "api", "notebooks")
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in GENERATED),
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(pgjax.__path__, "pgjax."):
        spec = importlib.util.find_spec(info.name)
        origin = spec.origin if spec else None
        if origin and origin.endswith(".py") and ">>>" in pathlib.Path(origin).read_text():
            found.append(info.name)
    return found


MODULES = _modules_with_examples()


def test_some_docstrings_have_examples():
    assert "pgjax.kernels.returns" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = doctest.DocTestFinder().find(module, name)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 or not any(t.examples for t in tests)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


_PYCON = re.compile(r"^```pycon\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _pycon_pages():
    return [p for p in PAGES if _PYCON.search(p.read_text())]


def test_the_guides_have_examples():
    assert DOCS / "guides" / "kernels.md" in _pycon_pages()


@pytest.mark.parametrize("page", _pycon_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_guide_examples_run(page):
    text = page.read_text()
    examples = "\n\n".join(block for block in _PYCON.findall(text))
    test = doctest.DocTestParser().get_doctest(examples, {}, str(page), str(page), 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples failed"


_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(page: pathlib.Path) -> list[str]:
    """The link targets of a Markdown page, outside code."""
    text = _INLINE_CODE.sub("", _FENCE.sub("", page.read_text()))
    return _LINK.findall(text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and MyST, `myst_heading_anchors`) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    text = _FENCE.sub("", path.read_text())
    return {github_anchor(m[1]) for m in re.finditer(r"^#+\s+(.*)$", text, re.MULTILINE)}


def test_link_checker_sees_links():
    assert "docs/guides/conventions.md" in links(ROOT / "README.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z+.-]*:", target):
            continue  # https:, mailto:, ...
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
        elif not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"
