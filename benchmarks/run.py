"""One entry point for every benchmark; regenerates `benchmarks/RESULTS.md`.

    python -m benchmarks.run                         # all of them, full size
    python -m benchmarks.run scaling sb3_cartpole    # some of them
    python -m benchmarks.run --quick                 # small sizes (~minutes)
    python -m benchmarks.run --smoke                 # the smallest sizes: does each one run?
    python -m benchmarks.run scaling --platform cuda # choose JAX's device (default: JAX's)

Each benchmark is a module `benchmarks/NAME.py`, imported only when it runs, that exposes

    run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict

returning `benchmarks.common.result(name, table, data, ...)` (`out_dir` is where it may write
files such as plots) or `benchmarks.common.skipped(name, reason)`. `smoke` is the smallest
setting that still goes through every code path of the benchmark (see `benchmarks.common`);
`tests/benchmarks` runs it for every module in this folder, listed here or not.

For each result this writes `OUT/NAME-BACKEND.json` (the result, the machine, the mode and
the time taken), prints the table, and rewrites its section of `benchmarks/RESULTS.md`.
Sections of benchmarks that did not run this time keep their previous content, or say "not
run". A quick result never replaces a full one (use `--no-results` to leave RESULTS.md alone).
Results from different JAX backends (cpu, gpu, …) get separate sections, each naming its device.
The headline sentences go into a block of README.md between the two
`<!-- benchmarks:headlines -->` markers, when README.md has them.

A smoke run writes neither JSON nor RESULTS.md nor README.md, and its files go to a temporary
folder unless `--out` is given. It checks that the code runs, not how fast, so it compiles with
XLA's backend optimisations off (≈40% less compile time on a CPU) and caches the programs it
compiles in that folder (benchmarks compiling the same program compile it once). `--summary
PATH` writes each benchmark's outcome as JSON (what `tests/benchmarks` reads).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

BENCHMARKS = (
    "cli_startup",
    "kernels",
    "ppo_cartpole",
    "purejaxrl_ppo",
    "brax_ppo",
    "brax_sac",
    "ppo_rnn",
    "time_to_result",
    "pbt_vs_random",
    "driver_overhead",
    "data_parallel",
    "scaling",
    "sb3_cartpole",
    "baseline_variance",
    "policy_lag",
    "impala_async",
    "pg_vs_q",
    "short_corridor",
    "action_masking",
    "action_space_size",
    "bounded_actions",
    "sb3_off_policy",
    "rlhf_throughput",
    "token_log_probs",
    "rlhf_verifiable",
    "rlhf_stale",
)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
README = HERE.parent / "README.md"
FIGURES = HERE / "figures"  # plots linked from RESULTS.md (committed; out/ is not)

_SECTION = re.compile(
    r"<!-- section id=(?P<id>\S+) mode=(?P<mode>\S+) -->\n(?P<body>.*?)<!-- /section -->\n",
    re.DOTALL,
)
_HEADLINE_PREFIX = "> **Headline:** "
_README_START = "<!-- benchmarks:headlines -->"
_README_END = "<!-- /benchmarks:headlines -->"


def run_benchmark(name: str, out_dir: Path, *, quick: bool = False, smoke: bool = False) -> dict:
    """Imports `benchmarks.NAME`, calls its `run` and checks what it returns (`check_result`).

    Raises:
      TypeError: the module has no `run(quick, out_dir, smoke)`, or it returned something else
        than `result(...)` or `skipped(...)`.
    """
    module = importlib.import_module(f"benchmarks.{name}")
    run = getattr(module, "run", None)
    expected = ("quick", "out_dir", "smoke")
    parameters = inspect.signature(run).parameters if callable(run) else {}
    if any(p not in parameters for p in expected):
        raise TypeError(
            f"benchmarks/{name}.py must define run(quick=False, out_dir=None, smoke=False) "
            "(see benchmarks/common.py)."
        )
    return check_result(name, run(quick=quick, out_dir=out_dir, smoke=smoke))


def check_result(name: str, output) -> dict:
    """`output` with the optional fields filled in, if it is what a benchmark's `run` must
    return: `skipped(...)` (a dict with a non-empty `skipped` reason) or `result(...)` (a dict
    with `name`, a non-empty markdown `table` and `files` that exist); TypeError otherwise."""
    if isinstance(output, dict) and "skipped" in output:
        if not isinstance(output["skipped"], str) or not output["skipped"]:
            raise TypeError(f"benchmarks.{name}.run returned skipped(...) without a reason.")
        return output
    if (
        not isinstance(output, dict)
        or output.get("name") != name
        or not isinstance(output.get("table"), str)
        or not output["table"].strip()
    ):
        raise TypeError(
            f"benchmarks.{name}.run must return benchmarks.common.result({name!r}, table, "
            f"data, ...) with a non-empty table, or skipped(...); got {output!r:.200}."
        )
    missing = [path for path in output.get("files", []) if not Path(path).is_file()]
    if missing:
        raise TypeError(f"benchmarks.{name}.run lists files it did not write: {missing}.")
    return {"title": name, "notes": "", "headline": "", "files": [], "data": None, **output}


def section_markdown(
    result: dict, info: dict, mode: str, seconds: float, command: str | None = None
) -> str:
    """A result's section of RESULTS.md: its heading, the date, device and versions it was
    measured with, the command that measures it (default: `python -m benchmarks.run NAME`),
    its headline, table, notes and figures."""
    from benchmarks.common import device_label

    versions = info["versions"]
    load = info.get("load_average") or ["?"]
    if command is None:
        command = f"python -m benchmarks.run {result['name']}"
    meta = (
        f"_{info['date']} · {device_label(info)} (load average {load[0]} at start) · "
        f"jax {versions['jax']} · "
        f"{mode} mode · {seconds:.0f} s · `{command}{' --quick' if mode == 'quick' else ''}`_"
    )
    parts = [f"## {result['title']} ({info['jax_backend']})", "", meta, ""]
    if result.get("headline"):
        headline = f"{result['headline']} ({device_label(info)}, {info['date'][:10]})"
        parts += [_HEADLINE_PREFIX + headline, ""]
    parts += [result["table"].strip(), ""]
    if result.get("notes"):
        parts += [result["notes"].strip(), ""]
    for path in result.get("files", []):
        link = os.path.relpath(path, RESULTS.parent)
        parts += [f"![{Path(path).stem}]({link})", ""]
    return "\n".join(parts)


def read_sections(text: str) -> dict[str, tuple[str, str]]:
    """RESULTS.md's sections, `{id: (mode, markdown)}` (ids are `NAME/BACKEND`)."""
    return {m["id"]: (m["mode"], m["body"]) for m in _SECTION.finditer(text)}


def _order(section_id: str) -> tuple:
    name, _, backend = section_id.partition("/")
    index = BENCHMARKS.index(name) if name in BENCHMARKS else len(BENCHMARKS)
    return (index, name, backend != "cpu", backend)


def record_section(
    sections: dict[str, tuple[str, str]],
    result: dict,
    info: dict,
    mode: str,
    seconds: float,
    command: str | None = None,
) -> bool:
    """Puts `result`'s section (`section_markdown`) into `sections` under `NAME/BACKEND`,
    copying its figures next to RESULTS.md; False (and `sections` unchanged) when `mode` is
    quick and the section holds a full-mode result, which a quick one never replaces."""
    section_id = f"{result['name']}/{info['jax_backend']}"
    if mode == "quick" and sections.get(section_id, ("none", ""))[0] == "full":
        print(f"RESULTS.md keeps the full-mode section of {section_id} (this run was quick).")
        return False
    files = []
    for path in result.get("files", []):  # plots are copied next to RESULTS.md, to be committed
        FIGURES.mkdir(exist_ok=True)
        files.append(str(shutil.copy(path, FIGURES / Path(path).name)))
    section = section_markdown({**result, "files": files}, info, mode, seconds, command)
    sections[section_id] = (mode, section)
    return True


def publish(
    result: dict, info: dict, mode: str, seconds: float, command: str | None = None
) -> bool:
    """Rewrites RESULTS.md with `result`'s section replaced (`record_section`), every other
    section kept, and README's headlines; for a benchmark run on its own, outside `main`.
    Returns whether the section was written."""
    sections = read_sections(RESULTS.read_text()) if RESULTS.exists() else {}
    if not record_section(sections, result, info, mode, seconds, command):
        return False
    headlines = write_results(sections, info)
    print(f"wrote {RESULTS}")
    if update_readme(headlines):
        print(f"updated the benchmark headlines in {README}")
    return True


def write_results(sections: dict[str, tuple[str, str]], info: dict) -> list[str]:
    """Rewrites RESULTS.md from `sections` ({id: (mode, markdown)}); returns the headlines."""
    from benchmarks.common import machine_markdown

    headlines = []
    body = []
    for section_id in sorted(sections, key=_order):
        mode, text = sections[section_id]
        body.append(f"<!-- section id={section_id} mode={mode} -->\n{text.rstrip()}\n\n")
        body.append("<!-- /section -->\n")
        for line in text.splitlines():
            if line.startswith(_HEADLINE_PREFIX):
                headlines.append(line[len(_HEADLINE_PREFIX) :])
    header = [
        "# pgjax benchmark results",
        "",
        "Generated by `python -m benchmarks.run` (all benchmarks) or "
        "`python -m benchmarks.run NAME [NAME ...] [--quick]`, and the accelerator summary by "
        "`python -m benchmarks.accelerator`; do not edit by hand. Sections "
        "of benchmarks that were not run keep their previous content, each with the date, "
        "device and versions it was measured with. Raw measurements: `benchmarks/out/*.json` "
        "(not committed).",
        "",
        "## Machine of the last run",
        "",
        machine_markdown(info),
        "",
    ]
    if headlines:
        header += ["## Headlines", "", *(f"- {h}" for h in headlines), ""]
    RESULTS.write_text("\n".join(header) + "\n" + "".join(body))
    return headlines


def update_readme(headlines: list[str]) -> bool:
    """Replaces the block between README's headline markers; False if it has none."""
    if not README.exists():
        return False
    text = README.read_text()
    start, end = text.find(_README_START), text.find(_README_END)
    if start < 0 or end < start:
        return False
    lines = [f"- {h}" for h in headlines] or ["- (no results yet)"]
    block = _README_START + "\n" + "\n".join(lines) + "\n" + _README_END
    README.write_text(text[:start] + block + text[end + len(_README_END) :])
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: {BENCHMARKS})")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    sizes.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest sizes, to check that each runs; records nothing",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON and plots (default: benchmarks/out)"
    )
    parser.add_argument(
        "--platform", default=None, help="JAX platform, e.g. cpu or cuda (sets JAX_PLATFORMS)"
    )
    parser.add_argument(
        "--no-results", action="store_true", help="leave RESULTS.md and README.md alone"
    )
    parser.add_argument(
        "--summary", type=Path, default=None, help="write each benchmark's outcome here (JSON)"
    )
    parser.add_argument(
        "--purejaxrl",
        type=Path,
        default=None,
        help="a PureJaxRL checkout, for purejaxrl_ppo and ppo_rnn (or set PGJAX_PUREJAXRL)",
    )
    args = parser.parse_args(argv)
    if args.purejaxrl is not None:
        os.environ["PGJAX_PUREJAXRL"] = str(args.purejaxrl.resolve())
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS and not (HERE / f"{n}.py").exists()]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    if args.platform:
        os.environ["JAX_PLATFORMS"] = args.platform
    flags = os.environ.get("XLA_FLAGS", "")
    if args.smoke and "xla_backend_optimization_level" not in flags:  # read when JAX starts
        os.environ["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level=0".strip()
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))

    from benchmarks.common import machine_info
    from pgjax.runs.compile_cache import enable_compile_cache
    from pgjax.training.parallel import use_cpu_cores

    use_cpu_cores()  # on a CPU, one JAX device per core, as the CLI runs seeds
    info = machine_info()
    backend = info["jax_backend"]
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    with contextlib.ExitStack() as stack:
        if args.out is None:
            args.out = (
                Path(stack.enter_context(tempfile.TemporaryDirectory()))
                if args.smoke
                else HERE / "out"
            )
        if args.smoke:
            enable_compile_cache(args.out / "compile-cache")
        return _run_all(names, args, info, backend, mode)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished subprocesses (time_to_result's)."""
    return sum(os.times()[:4])


def _run_all(names: list[str], args, info: dict, backend: str, mode: str) -> int:
    from benchmarks.common import device_label, write_json

    print(f"# pgjax benchmarks ({mode}) on {device_label(info)}\n")
    sections = read_sections(RESULTS.read_text()) if RESULTS.exists() else {}
    failed = []
    outcomes = {}  # name -> {"status": ok / skipped / failed, "detail", "seconds", "cpu_seconds"}
    for name in names:
        print(f"## {name}\n", flush=True)
        if not (HERE / f"{name}.py").exists():
            print(f"skipped: benchmarks/{name}.py does not exist yet\n")
            outcomes[name] = {"status": "skipped", "detail": "no such file"}
            continue
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        try:
            output = run_benchmark(name, args.out, quick=args.quick, smoke=args.smoke)
        except Exception:  # one broken benchmark must not stop the others
            traceback.print_exc()
            failed.append(name)
            output = {"failed": traceback.format_exc()}
        seconds = time.perf_counter() - start
        status = next((k for k in ("failed", "skipped") if k in output), "ok")
        outcomes[name] = {
            "status": status,
            "detail": output.get(status, ""),
            "seconds": seconds,
            "cpu_seconds": _cpu_seconds() - cpu_start,
        }
        if args.summary is not None:  # after each benchmark: a crash leaves the ones before
            write_json(args.summary, outcomes)
        if status == "failed":
            continue
        if status == "skipped":
            print(f"skipped: {output['skipped']}\n")
            continue
        if args.smoke:
            print(output["table"] + "\n")
            print(f"({seconds:.1f} s; smoke mode: nothing recorded)\n", flush=True)
            continue
        record = {"name": name, **output, "mode": mode, "seconds": seconds, "machine": info}
        json_path = write_json(args.out / f"{name}-{backend}.json", record)
        print(output["table"] + "\n")
        if output["notes"]:
            print(output["notes"] + "\n")
        print(f"({seconds:.0f} s; JSON: {json_path})\n", flush=True)
        if not args.no_results:
            record_section(sections, output, info, mode, seconds)
    if not args.no_results and not args.smoke:
        for name in BENCHMARKS:
            if not any(s.partition("/")[0] == name for s in sections):
                text = f"## {name} ({backend})\n\nNot run yet: `python -m benchmarks.run {name}`.\n"
                sections[f"{name}/{backend}"] = ("none", text)
        headlines = write_results(sections, info)
        print(f"wrote {RESULTS}")
        if update_readme(headlines):
            print(f"updated the benchmark headlines in {README}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
