"""Kernel benchmarks: pgjax against rlax and a hand-written reverse `lax.scan`.

    python -m benchmarks.kernels            # full run (well under 2 minutes on a 2-core CPU)
    python -m benchmarks.kernels --quick    # fewer repetitions, smaller sizes
    python -m benchmarks.kernels --json out.json
    python -m benchmarks.run kernels        # the same, recorded in benchmarks/RESULTS.md

Every implementation is `jax.jit`-compiled. Two numbers are reported per case:

* compile: wall time of `jax.jit(fn).lower(*args).compile()` (tracing + lowering + XLA compile),
  measured once, separately from running;
* run: the median over repeated calls of the compiled function, each ended by
  `block_until_ready` (after one warm-up call). The implementations of one kernel and size are
  called round-robin, so that load changes on a shared machine affect them alike.

Speed-ups are baseline run time / implementation run time (> 1: faster than the baseline),
against "rlax (vmapped)" and, for GAE, against "plain lax.scan".

Inputs are time-major `[T, B]`, as pgjax takes them. rlax kernels take one trajectory, so the
rlax variants transpose to batch-major, vmap over the batch and transpose back, and build rlax's
inputs (discount γ·(1 − terminated), values of length T + 1); all of that is inside the timed
function, since a user holding time-major data has to do it. rlax has no truncation flag: it is
timed on the same data but treats a truncation as a continuation (its numbers are not pgjax's
there); the pgjax and plain-scan variants implement the full terminated/truncated semantics.

To add a case, append a `Case` to the list returned by `cases()`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import pgjax
from benchmarks.common import result

try:  # rlax is a test dependency; the benchmark still runs (without its rows) if it is absent.
    import rlax
except ImportError:  # pragma: no cover
    rlax = None

NAME = "kernels"
GAMMA, LAMBDA, CLIP_EPS = 0.99, 0.95, 0.2
RLAX = "rlax (vmapped)"
PLAIN = "plain lax.scan"


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------


def trajectory(num_steps: int, batch: int, seed: int = 0) -> dict[str, jax.Array]:
    """Time-major [T, B] float32 rewards/values/next_values and ~1% terminated/truncated."""
    rng = np.random.default_rng(seed)
    shape = (num_steps, batch)
    return {
        "rewards": jnp.asarray(rng.normal(size=shape), jnp.float32),
        "values": jnp.asarray(rng.normal(size=shape), jnp.float32),
        "next_values": jnp.asarray(rng.normal(size=shape), jnp.float32),
        "terminated": jnp.asarray(rng.random(shape) < 0.01),
        "truncated": jnp.asarray(rng.random(shape) < 0.01),
    }


def _traj_args(d):
    return (d["rewards"], d["values"], d["next_values"], d["terminated"], d["truncated"])


def ppo_inputs(num_rows: int, num_cols: int, seed: int = 0) -> tuple[jax.Array, ...]:
    rng = np.random.default_rng(seed)
    shape = (num_rows, num_cols)
    old = jnp.asarray(-rng.random(shape) * 2, jnp.float32)
    log_probs = old + jnp.asarray(rng.normal(scale=0.3, size=shape), jnp.float32)
    advantages = jnp.asarray(rng.normal(size=shape), jnp.float32)
    return log_probs, old, advantages


# ------------------------------------------------------------------------------------------
# Implementations (all take time-major [T, B] arrays)
# ------------------------------------------------------------------------------------------


def pgjax_gae(method: str) -> Callable:
    def fn(r, v, nv, term, trunc):
        return pgjax.gae(r, v, nv, term, trunc, GAMMA, LAMBDA, method=method)

    return fn


def plain_scan_gae(r, v, nv, term, trunc):
    """The simplest correct GAE: one reverse `lax.scan`, no unroll, same semantics as pgjax."""
    not_terminated = 1.0 - term.astype(r.dtype)
    deltas = r + GAMMA * not_terminated * nv - v
    carries = GAMMA * LAMBDA * (1.0 - (term | trunc).astype(r.dtype))

    def step(advantage, x):
        delta, carry = x
        advantage = delta + carry * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(step, jnp.zeros_like(r[0]), (deltas, carries), reverse=True)
    return advantages, advantages + v


def _rlax_discounts(r, term):
    return (GAMMA * (1.0 - term.astype(r.dtype))).T  # batch-major [B, T]


def rlax_gae(r, v, nv, term, trunc):
    del trunc  # rlax cannot express truncation (see the module docstring)
    values = jnp.concatenate([v, nv[-1:]], axis=0).T  # [B, T + 1]
    advantages = jax.vmap(rlax.truncated_generalized_advantage_estimation, in_axes=(0, 0, None, 0))(
        r.T, _rlax_discounts(r, term), LAMBDA, values
    ).T
    return advantages, advantages + v


def pgjax_lambda_returns(r, v, nv, term, trunc):
    return pgjax.lambda_returns(r, nv, term, trunc, GAMMA, LAMBDA)


def rlax_lambda_returns(r, v, nv, term, trunc):
    del v, trunc
    fn = jax.vmap(rlax.lambda_returns, in_axes=(0, 0, 0, None))
    return fn(r.T, _rlax_discounts(r, term), nv.T, LAMBDA).T


def pgjax_discounted_returns(r, v, nv, term, trunc):
    return pgjax.discounted_returns(r, term, trunc, GAMMA, nv)


def rlax_discounted_returns(r, v, nv, term, trunc):
    del v, trunc
    fn = jax.vmap(rlax.discounted_returns)
    return fn(r.T, _rlax_discounts(r, term), nv.T).T


def pgjax_ppo_loss_and_grad(log_probs, old, adv):
    return jax.value_and_grad(lambda lp: pgjax.ppo_clip_loss(lp, old, adv, clip_eps=CLIP_EPS))(
        log_probs
    )


def rlax_ppo_loss_and_grad(log_probs, old, adv):
    # rlax's loss is rank-1: flatten, as a user with [T, B] data would.
    def loss(lp):
        ratios = jnp.exp(lp - old).reshape(-1)
        return rlax.clipped_surrogate_pg_loss(ratios, adv.reshape(-1), CLIP_EPS)

    return jax.value_and_grad(loss)(log_probs)


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    kernel: str  # the row group, e.g. "gae"
    size: str  # a label for the input size, e.g. "T=128 B=2048"
    impl: str  # the implementation label (RLAX / PLAIN are the baselines)
    fn: Callable  # the function to jit
    make_args: Callable[[], tuple]  # builds the (device) inputs


def cases(quick: bool = False, smoke: bool = False) -> list[Case]:
    """Every (kernel, size, implementation) to time; `smoke`: one tiny size per kernel."""

    def sizes(full, quick_sizes):
        return [(8, 4)] if smoke else quick_sizes if quick else full

    out: list[Case] = []
    gae_sizes = sizes([(128, 2048), (4096, 64)], [(128, 256), (1024, 16)])
    for num_steps, batch in gae_sizes:
        size = f"T={num_steps} B={batch}"

        def make(num_steps=num_steps, batch=batch):
            return _traj_args(trajectory(num_steps, batch))

        out += [
            Case("gae", size, "pgjax scan (default)", pgjax_gae("scan"), make),
            Case("gae", size, "pgjax associative", pgjax_gae("associative"), make),
            Case("gae", size, PLAIN, plain_scan_gae, make),
        ]
        if rlax is not None:
            out.append(Case("gae", size, RLAX, rlax_gae, make))

    return_sizes = sizes([(16, 64), (128, 2048)], [(16, 64), (64, 256)])
    for kernel, ours, theirs in (
        ("lambda_returns", pgjax_lambda_returns, rlax_lambda_returns),
        ("discounted_returns", pgjax_discounted_returns, rlax_discounted_returns),
    ):
        for num_steps, batch in return_sizes:

            def make(num_steps=num_steps, batch=batch):
                return _traj_args(trajectory(num_steps, batch))

            size = f"T={num_steps} B={batch}"
            out.append(Case(kernel, size, "pgjax", ours, make))
            if rlax is not None:
                out.append(Case(kernel, size, RLAX, theirs, make))

    ppo_sizes = sizes([(64, 64), (1024, 1024)], [(64, 64), (256, 256)])
    for rows, cols in ppo_sizes:

        def make(rows=rows, cols=cols):
            return ppo_inputs(rows, cols)

        size = f"N={rows}x{cols}"
        out.append(Case("ppo_clip_loss + grad", size, "pgjax", pgjax_ppo_loss_and_grad, make))
        if rlax is not None:
            out.append(Case("ppo_clip_loss + grad", size, "rlax", rlax_ppo_loss_and_grad, make))
    return out


# ------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------


def time_group(group: list[Case], budget_s: float, min_runs: int, max_runs: int) -> list[dict]:
    """Times the implementations of one (kernel, size) group.

    Each is compiled (timed) and warmed up, then the compiled functions are called round-robin,
    one call each per round, so that a change in machine load (this is often a shared machine)
    hits every implementation alike instead of whichever happened to run during it.
    """
    args = jax.block_until_ready(group[0].make_args())
    compiled, compile_s = [], []
    for case in group:
        start = time.perf_counter()
        compiled.append(jax.jit(case.fn).lower(*args).compile())
        compile_s.append(time.perf_counter() - start)
        jax.block_until_ready(compiled[-1](*args))  # warm-up
    start = time.perf_counter()
    for fn in compiled:
        jax.block_until_ready(fn(*args))
    per_round = time.perf_counter() - start
    runs = int(min(max_runs, max(min_runs, budget_s / max(per_round, 1e-6))))
    times: list[list[float]] = [[] for _ in group]
    for _ in range(runs):
        for i, fn in enumerate(compiled):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[i].append(time.perf_counter() - start)
    return [
        {
            "kernel": case.kernel,
            "size": case.size,
            "impl": case.impl,
            "compile_s": compile_s[i],
            "run_ms": 1e3 * statistics.median(times[i]),
            "run_min_ms": 1e3 * min(times[i]),
            "runs": runs,
        }
        for i, case in enumerate(group)
    ]


def add_ratios(results: list[dict]) -> None:
    """Speed-up of each row against the baselines of its (kernel, size) group."""
    for row in results:
        group = [r for r in results if r["kernel"] == row["kernel"] and r["size"] == row["size"]]
        for key, baseline in (("vs_rlax", (RLAX, "rlax")), ("vs_plain_scan", (PLAIN,))):
            base = [r for r in group if r["impl"] in baseline]
            row[key] = base[0]["run_ms"] / row["run_ms"] if base else None


def markdown(results: list[dict]) -> str:
    def ratio(x):
        return "—" if x is None else f"{x:.2f}×"

    lines = [
        "| kernel | size | implementation | compile (s) | run, median (ms) | speed-up vs rlax "
        "| speed-up vs plain scan |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['kernel']} | {r['size']} | {r['impl']} | {r['compile_s']:.3f} "
            f"| {r['run_ms']:.3f} | {ratio(r['vs_rlax'])} | {ratio(r['vs_plain_scan'])} |"
        )
    return "\n".join(lines)


def environment() -> dict:
    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "rlax": getattr(rlax, "__version__", None),
        "pgjax": pgjax.__version__,
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


NOTES = (
    "compile = jit(f).lower(*args).compile(); run = median of block_until_ready calls, "
    "round-robin within each kernel and size; speed-up = baseline time / this time; rlax "
    "rows include the batch-major transposes and input preparation inside the timed function."
)


def measure(quick: bool = False, smoke: bool = False) -> tuple[list[dict], dict]:
    """Times every case of `cases(quick, smoke)`: the result rows and the environment."""
    budget_s, min_runs, max_runs = (
        (0.0, 1, 1) if smoke else (0.5, 5, 50) if quick else (4.0, 20, 500)
    )
    env = environment()
    results = []
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases(quick, smoke):
        groups.setdefault((case.kernel, case.size), []).append(case)
    for group in groups.values():
        for r in time_group(group, budget_s, min_runs, max_runs):
            results.append(r)
            print(
                f"  {r['kernel']:<22} {r['size']:<14} {r['impl']:<22} "
                f"compile {r['compile_s']:.3f}s  run {r['run_ms']:.3f}ms ({r['runs']} runs)",
                flush=True,
            )
    add_ratios(results)
    env["load_average_1m_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return results, env


def environment_line(env: dict) -> str:
    return (
        f"jax {env['jax']} ({env['backend']}: {env['device']}, {env['cpu_count']} CPUs), "
        f"rlax {env['rlax']}, pgjax {env['pgjax']}; load average "
        f"{env['load_average_1m']:.2f} -> {env['load_average_1m_end']:.2f}"
    )


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    """The `benchmarks.run` entry point (`out_dir` is unused: no files)."""
    results, env = measure(quick, smoke)
    return result(
        NAME,
        markdown(results),
        {"environment": env, "results": results},
        title="Kernels: pgjax vs rlax and a plain lax.scan",
        notes=f"{environment_line(env)}.\n\n{NOTES}",
    )


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results, env = measure(args.quick)
    print()
    print(environment_line(env))
    print(NOTES + "\n")
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
