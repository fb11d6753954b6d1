"""RLHF throughput: tokens per second of sampling and of the RL update, and how they scale with
the model's width and the response length.

Two measurements per point, each the steady state of one compiled call (compilation timed
apart), on one device and one run (the `pgjax.rlhf` defaults otherwise: 64 responses per
update, prompts of 6 digits, 2 transformer blocks):

* sampling: `pgjax.rlhf.sampling.generate`, 64 responses of R tokens (a prefill of the prompt,
  then one cached decoding step per token in a `lax.scan`); tokens/s = 64 · R / seconds.
* RL update: one `pgjax.rlhf.ppo.update` (sampling, the teacher-forced passes of the policy, the
  reference and the reward model, GAE, then 4 epochs × 4 minibatches of Adam steps on the
  clipped loss); tokens/s = 64 · R / seconds. One GRPO update at the default size for scale.

The widths run at R = 16, the response lengths at width 64. The weights are freshly initialised
(the cost of a step does not depend on them: every response slot is computed, ended or not).
Nothing here is CPU-specific: on a GPU the same code measures it.
"""

from __future__ import annotations

from pathlib import Path

NAME = "rlhf_throughput"
WIDTHS = (32, 64, 128, 256)
LENGTHS = (8, 16, 32, 64)
QUICK_WIDTHS, QUICK_LENGTHS = (32, 64), (8, 16)
# Smoke: one PPO and one GRPO point of a 1-block, width-16 model, responses of 4 tokens.
SMOKE_POINTS = (("ppo", 16, 4), ("grpo", 16, 4))
SMOKE_OVERRIDES = {"num_blocks": 1}


def measure_point(algorithm: str, width: int, length: int, repeats: int, **overrides) -> dict:
    """Sampling and one RL update (`algorithm`: "ppo" or "grpo") of a transformer of `width`
    (2 blocks, or `overrides` of other config fields) on 64 responses of `length` tokens:
    compile and steady-state seconds (median of `repeats` calls after a warm-up call) and
    tokens per second of each, and the model's size."""
    import jax

    from benchmarks.common import time_compile_and_run
    from pgjax.rlhf import pipeline
    from pgjax.rlhf.grpo import GRPO
    from pgjax.rlhf.model import init_params, num_params
    from pgjax.rlhf.ppo import PPO
    from pgjax.rlhf.sampling import generate
    from pgjax.rlhf.task import sample_prompts

    rl = {"ppo": PPO, "grpo": GRPO}[algorithm]
    config = rl.config_class(
        width=width, response_length=length, target_length=min(8, length - 2), **overrides
    )
    config.validate()
    model = config.model()
    params = jax.jit(lambda key: init_params(model, key))(jax.random.key(0))
    state = pipeline.start(config, jax.random.key(1), params, params)
    prompts = sample_prompts(config.task_spec(), jax.random.key(2), config.responses_per_update)
    tokens = config.responses_per_update * length

    def sample(params, key):
        return generate(model, params, prompts, key, length)

    sampling = time_compile_and_run(sample, params, jax.random.key(3), repeats=repeats)
    update = time_compile_and_run(lambda state: rl.update(config, state), state, repeats=repeats)
    return {
        "algorithm": algorithm,
        "width": width,
        "num_blocks": config.num_blocks,
        "response_length": length,
        "parameters": num_params(params),
        "sample_s": sampling.run_s,
        "sample_compile_s": sampling.compile_s,
        "sample_tokens_per_s": tokens / sampling.run_s,
        "update_s": update.run_s,
        "update_compile_s": update.compile_s,
        "update_tokens_per_s": tokens / update.run_s,
    }


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    import jax

    from benchmarks.common import format_rate, format_seconds, markdown_table, result

    widths, lengths = (QUICK_WIDTHS, QUICK_LENGTHS) if quick else (WIDTHS, LENGTHS)
    repeats = 1 if smoke else 3 if quick else 5
    points = [("ppo", w, 16) for w in widths] + [("ppo", 64, n) for n in lengths if n != 16]
    points.append(("grpo", 64, 16))
    overrides = SMOKE_OVERRIDES if smoke else {}
    data = []
    for algorithm, width, length in SMOKE_POINTS if smoke else points:
        print(f"{algorithm} width {width}, R = {length}", flush=True)
        data.append(measure_point(algorithm, width, length, repeats, **overrides))
    rows = [
        [
            d["algorithm"].upper(),
            d["width"],
            d["response_length"],
            f"{d['parameters']:,}",
            format_rate(d["sample_tokens_per_s"]),
            format_seconds(d["sample_s"]),
            format_rate(d["update_tokens_per_s"]),
            format_seconds(d["update_s"]),
            format_seconds(d["update_compile_s"]),
        ]
        for d in data
    ]
    table = markdown_table(
        [
            "update", "width", "R", "parameters", "sampling tokens/s", "sampling 64 responses",
            "update tokens/s", "one update", "update compile",
        ],
        rows,
    )  # fmt: skip
    default = next((d for d in data if d["width"] == 64 and d["response_length"] == 16), data[0])
    device = jax.devices()[0].platform.upper()
    headline = (
        f"RLHF ({default['num_blocks']}-block width-{default['width']} transformer, 64 "
        f"responses of {default['response_length']} tokens): sampling "
        f"{format_rate(default['sample_tokens_per_s'])} tokens/s, a whole PPO update "
        f"{format_rate(default['update_tokens_per_s'])} tokens/s on one {device} device"
    )
    notes = (
        "Tokens are response slots (64 · R per call). An update is one rollout and 16 Adam "
        "steps; its time is dominated by the gradient steps, each a forward and backward pass "
        "over 16 whole sequences. Sampling decodes with a key/value cache, so a step costs "
        "O(prompt + R) attention per token instead of recomputing the sequence."
    )
    return result(NAME, table, data, title="RLHF throughput", notes=notes, headline=headline)
