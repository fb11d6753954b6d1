"""Token log-probabilities from hidden states: `pgjax.chunked_log_probs` against the naive
`log_softmax(h @ W)` + gather, in peak memory and in time, forward and backward.

    python -m benchmarks.run token_log_probs            # full
    python -m benchmarks.run token_log_probs --quick    # small sizes, well under a minute

The program measured for each implementation is `jax.jit(jax.value_and_grad(loss, (h, W)))`
with loss = Σ (c₁ · log π(y) + c₂ · H(π)) over N = T × B positions: the forward pass and the
gradients w.r.t. the hidden states `[N, D]` and the unembedding `[D, V]`, float32 throughout.

* Peak memory: from the compiled program's memory analysis
  (`jax.jit(f).lower(...).compile().memory_analysis()`), temp + output bytes: what the program
  allocates beyond its arguments. Nothing is run for it, so it is also reported at sizes too big
  to run here ("memory only" rows). The outputs include the `[D, V]` and `[N, D]` gradients both
  implementations must return.
* Time: the median of several calls of the compiled program after a warm-up call (compilation
  apart), naive then chunked at each point.

Targets (issue 25): peak memory independent of V × T beyond one chunk, and time within 1.3× of
naive. The memory target counts as met when every point's chunked temp bytes are at most
4 buffers of one chunk's float32 logits (4 · chunk · V · 4 bytes) plus 4 hidden-sized arrays
(4 · N · D · 4 bytes), whatever N; the naive program's temp bytes grow as N · V.
"""

from __future__ import annotations

from pathlib import Path

NAME = "token_log_probs"
CHUNK = 256
# Per vocabulary size: the (T, B) that are timed, and larger ones whose memory alone is reported.
FULL = {
    "dim": 128,
    "timed": {32_768: ((256, 2), (512, 2), (512, 4)), 131_072: ((256, 2), (512, 2), (512, 4))},
    "memory_only": {
        32_768: ((1024, 4), (2048, 8), (4096, 16)),
        131_072: ((1024, 4), (2048, 8), (4096, 16)),
    },
    "repeats": 3,
}
QUICK = {
    "dim": 64,
    "timed": {32_768: ((64, 2), (128, 2)), 131_072: ((64, 2),)},
    "memory_only": {32_768: (), 131_072: ((4096, 16),)},
    "repeats": 2,
}
# Smoke: a tiny vocabulary, two chunks of positions, one timed and one memory-only point.
SMOKE = {"dim": 8, "timed": {512: ((32, 16),)}, "memory_only": {512: ((64, 16),)}, "repeats": 1}


def _programs(num: int, dim: int, vocabulary: int):
    """The two jitted value-and-gradient programs and their arguments."""
    import jax
    import jax.numpy as jnp

    import pgjax

    def naive(hidden, unembedding, tokens):
        log_p = jax.nn.log_softmax(hidden @ unembedding, axis=-1)
        chosen = jnp.take_along_axis(log_p, tokens[:, None], -1)[:, 0]
        return chosen, -jnp.sum(jnp.exp(log_p) * log_p, -1)

    def chunked(hidden, unembedding, tokens):
        return pgjax.chunked_log_probs(hidden, unembedding, tokens, chunk_size=CHUNK)

    def program(fn):
        def loss(hidden, unembedding, tokens, weights):
            log_probs, entropy = fn(hidden, unembedding, tokens)
            return jnp.sum(weights[0] * log_probs + weights[1] * entropy)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

    keys = jax.random.split(jax.random.key(0), 4)
    args = (
        jax.random.normal(keys[0], (num, dim)),
        jax.random.normal(keys[1], (dim, vocabulary)) / dim**0.5,
        jax.random.randint(keys[2], (num,), 0, vocabulary),
        jax.random.normal(keys[3], (2, num)),
    )
    return {"naive": program(naive), "chunked": program(chunked)}, args


def _measure(program, args, repeats: int | None) -> dict:
    """Memory analysis of the compiled program, and (with `repeats`) its median run time."""
    import statistics
    import time

    import jax

    start = time.perf_counter()
    compiled = program.lower(*args).compile()
    out = {"compile_s": time.perf_counter() - start}
    analysis = compiled.memory_analysis()
    out["temp_bytes"] = analysis.temp_size_in_bytes
    out["output_bytes"] = analysis.output_size_in_bytes
    out["peak_bytes"] = out["temp_bytes"] + out["output_bytes"]
    if repeats is not None:
        jax.block_until_ready(compiled(*args))  # warm-up
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            runs.append(time.perf_counter() - start)
        out["run_s"] = statistics.median(runs)
    return out


def measure_point(length: int, batch: int, dim: int, vocabulary: int, repeats: int | None) -> dict:
    """Naive against chunked (chunk = `CHUNK`) log-probs and entropy of N = `length` × `batch`
    positions, width `dim`, `vocabulary` V, value and gradient: each program's compile time,
    temp, output and peak bytes, and (with `repeats`) its median run time; how the temp bytes
    compare with one chunk's and with all N·V logits, whether the memory target is met, and
    chunked / naive time."""
    num = length * batch
    programs, args = _programs(num, dim, vocabulary)
    point = {"T": length, "B": batch, "N": num, "D": dim, "V": vocabulary, "chunk": CHUNK}
    for name, program in programs.items():
        point[name] = _measure(program, args, repeats)
    budget = 4 * CHUNK * vocabulary * 4 + 4 * num * dim * 4
    point["chunked_temp_in_chunks"] = point["chunked"]["temp_bytes"] / (CHUNK * vocabulary * 4)
    point["naive_temp_in_nv"] = point["naive"]["temp_bytes"] / (num * vocabulary * 4)
    point["memory_met"] = point["chunked"]["temp_bytes"] <= budget
    if repeats is not None:
        point["time_ratio"] = point["chunked"]["run_s"] / point["naive"]["run_s"]
    return point


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    from benchmarks.common import format_seconds, markdown_table, result

    sizes = SMOKE if smoke else QUICK if quick else FULL
    data = []
    for vocabulary in sizes["timed"]:
        for timed in (True, False):
            for length, batch in sizes["timed" if timed else "memory_only"][vocabulary]:
                print(f"V = {vocabulary}, T × B = {length} × {batch}", flush=True)
                repeats = sizes["repeats"] if timed else None
                data.append(measure_point(length, batch, sizes["dim"], vocabulary, repeats))
    rows = []
    for d in data:
        timed = "time_ratio" in d
        rows.append(
            [
                f"{d['V']:,}",
                f"{d['T']} × {d['B']}",
                _mib(d["naive"]["peak_bytes"]),
                _mib(d["chunked"]["peak_bytes"]),
                f"{d['naive_temp_in_nv']:.2f}",
                f"{d['chunked_temp_in_chunks']:.2f}",
                format_seconds(d["naive"].get("run_s")) if timed else "memory only",
                format_seconds(d["chunked"].get("run_s")) if timed else "—",
                f"{d['time_ratio']:.2f}x" if timed else "—",
            ]
        )
    table = markdown_table(
        [
            "V", "T × B", "naive peak", "chunked peak", "naive temp / (N·V·4 B)",
            "chunked temp / (chunk·V·4 B)", "naive fwd+bwd", "chunked fwd+bwd", "chunked / naive",
        ],
        rows,
    )  # fmt: skip
    ratios = [d["time_ratio"] for d in data if "time_ratio" in d]
    memory_met = all(d["memory_met"] for d in data)
    time_met = max(ratios) <= 1.3
    worst = max(d["chunked_temp_in_chunks"] for d in data)
    verdict = (
        f"Memory target {'met' if memory_met else 'NOT met'}: chunked temp at most "
        f"{worst:.2f} chunk-logit buffers (chunk = {CHUNK}) at every V and T × B, naive temp "
        f"{min(d['naive_temp_in_nv'] for d in data):.2f}–"
        f"{max(d['naive_temp_in_nv'] for d in data):.2f} × N·V·4 bytes. Time target (≤ 1.3x "
        f"naive) {'met' if time_met else 'NOT met'}: chunked / naive "
        f"{min(ratios):.2f}x–{max(ratios):.2f}x."
    )
    print(verdict)
    notes = (
        f"{verdict}\n\nD = {sizes['dim']}, float32, chunk_size = {CHUNK}; peak = temp + output "
        "bytes of the compiled value-and-gradient program (its outputs include the gradients "
        "w.r.t. W `[D, V]` and h `[N, D]`). The chunked backward pass recomputes each chunk's "
        "logits: one more N·D·V matmul than naive's three."
    )
    largest = max(data, key=lambda d: (d["V"], d["N"]))
    headline = (
        f"Token log-probs and entropy from hidden states (V = {largest['V']:,}, "
        f"T × B = {largest['T']} × {largest['B']}, value and gradient): chunked peak "
        f"{_mib(largest['chunked']['peak_bytes'])} vs naive "
        f"{_mib(largest['naive']['peak_bytes'])}; time {min(ratios):.2f}x–{max(ratios):.2f}x "
        "naive"
    )
    return result(
        NAME, table, data, title="Token log-probs in chunks", notes=notes, headline=headline
    )
