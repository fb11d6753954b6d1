"""Recurrent PPO: pgjax against PureJaxRL's own `ppo_rnn.py`, and memory against none.

    python -m benchmarks.run ppo_rnn --purejaxrl PATH   # PATH: a PureJaxRL checkout

1. **pgjax vs PureJaxRL** on velocity-masked CartPole (`CartPole-v1-masked`), one seed, the
   configuration of `purejaxrl/ppo_rnn.py`'s `__main__` (4 envs × 128 steps, 4 epochs × 4
   minibatches of whole environments, a Dense(128)-ReLU torso, a 128-unit GRU, 128-unit ReLU
   actor and critic heads, lr 2.5e-4 annealed, γ 0.99, λ 0.95, clip 0.2, entropy 0.01). Their
   file runs unmodified from the checkout; only its environment is adapted at run time
   (`benchmarks.purejaxrl_ppo.load_purejaxrl`: gymnax 1.x's separate `terminated` and
   `truncated` joined into their `done`, and the masked id built by `pgjax.envs.partial`), and
   flax 0.12's `GRUCell` given the older API it calls (`flax_linen_as_their_file_expects`). So
   theirs treats CartPole's 500-step time limit as termination and pgjax bootstraps it from the
   state before the reset. Compile (trace + lower + XLA) and run time of `jax.jit(train)` (one
   timed call after a warm-up call); final return: theirs the last update's logged episode
   returns, pgjax's training returns over the last 5 updates. Target: throughput ≥ theirs.
2. **Recurrent vs feed-forward PPO** on each partially observable task of `pgjax.envs.partial`,
   16 seeds vmapped, equal environment steps, the same settings but the policy (GRU with an
   MLP torso, or the MLP): the returns of training episodes over the last 10% of updates, per
   seed; "solved" counts the seeds at or above the task's bar (`TASKS`). Learning curves:
   `benchmarks/figures/ppo_rnn.png` (`run.py` copies it there).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

NAME = "ppo_rnn"
SEEDS = 16

PUREJAXRL_CONFIG = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "TOTAL_TIMESTEPS": 131_072,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ENV_NAME": "CartPole-v1-masked",
    "ANNEAL_LR": True,
    "DEBUG": False,
}

# Per task: the environment steps per seed (quick, full), the bar a seed's final return must
# reach to count as solved, and the PPO settings both policies share.
TASKS = {
    "CartPole-v1-masked": {
        "steps": (49_152, 98_304),
        "solved": 150.0,  # a feed-forward policy stays below 60 (measured: 38–47)
        "settings": {"num_envs": 16, "num_steps": 64, "learning_rate": 2.5e-3},
    },
    "Pendulum-v1-masked": {
        "steps": (65_536, 131_072),
        "solved": -400.0,
        "settings": {
            "num_envs": 16,
            "num_steps": 128,
            "learning_rate": 1e-3,
            "gamma": 0.9,
            "entropy_coef": 0.0,
            "normalize_observations": True,
            "scale_rewards": True,
        },
    },
    "MemoryChain-bsuite": {
        "steps": (16_384, 32_768),
        "solved": 0.9,  # +1 for recalling the bit, −1 otherwise: chance is 0
        "settings": {"num_envs": 16, "num_steps": 32, "learning_rate": 2.5e-3},
    },
    "MemoryChain-bsuite-20": {
        "steps": (32_768, 65_536),
        "solved": 0.9,
        "settings": {"num_envs": 16, "num_steps": 64, "learning_rate": 2.5e-3},
    },
}


def pgjax_config(total_steps: int):
    """pgjax's PPO in PureJaxRL's `ppo_rnn.py` configuration."""
    from pgjax.algorithms.ppo import PPOConfig

    pj = PUREJAXRL_CONFIG
    return PPOConfig(
        env_id=pj["ENV_NAME"],
        total_steps=total_steps,
        num_envs=pj["NUM_ENVS"],
        num_steps=pj["NUM_STEPS"],
        num_epochs=pj["UPDATE_EPOCHS"],
        num_minibatches=pj["NUM_MINIBATCHES"],
        policy="gru",
        recurrent_size=128,
        hidden_sizes=(128,),
        activation="relu",
        learning_rate=pj["LR"],
        gamma=pj["GAMMA"],
        gae_lambda=pj["GAE_LAMBDA"],
        clip_eps=pj["CLIP_EPS"],
        entropy_coef=pj["ENT_COEF"],
        value_coef=pj["VF_COEF"],
        max_grad_norm=pj["MAX_GRAD_NORM"],
    )


def task_config(env_id: str, policy: str, total_steps: int):
    """Both policies' settings on a task: a 64-unit torso (and a 32-unit GRU) or a 64×64 MLP."""
    from pgjax.algorithms.ppo import PPOConfig

    shape = {"hidden_sizes": (64,), "recurrent_size": 32} if policy == "gru" else {}
    return PPOConfig(
        env_id=env_id,
        policy=policy,
        total_steps=total_steps,
        num_minibatches=4,
        **shape,
        **TASKS[env_id]["settings"],
    )


def flax_linen_as_their_file_expects():
    """`flax.linen` with the GRUCell API of the flax `ppo_rnn.py` was written for (≤ 0.7):
    `GRUCell()` with no size (theirs is 128 wide) and a static `initialize_carry(rng,
    batch_dims, size)`; flax 0.12's takes `features` and is an instance method. Installed as
    their module's `nn` after import, so their file runs unchanged on this flax."""
    import types

    import flax.linen
    import jax.numpy as jnp

    class GRUCell(flax.linen.GRUCell):
        features: int = 128

        @staticmethod
        def initialize_carry(rng, batch_dims, size):
            return jnp.zeros((*batch_dims, size))

    linen = types.ModuleType("flax.linen")
    linen.__dict__.update(vars(flax.linen))
    linen.GRUCell = GRUCell
    return linen


def _time(fn, *args):
    """(compile s, run s, output) of jit(fn)(*args): one warm-up call, one timed call."""
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))
    start = time.perf_counter()
    output = jax.block_until_ready(compiled(*args))
    return compile_s, time.perf_counter() - start, output


def against_purejaxrl(steps: int) -> tuple[list, dict]:
    """Rows `[program, compile s, steps/s, final return]` and the throughput ratio."""
    import jax
    import numpy as np

    from benchmarks.purejaxrl_ppo import load_purejaxrl
    from pgjax.algorithms.ppo import PPO

    checkout = os.environ.get("PGJAX_PUREJAXRL")
    config = pgjax_config(steps)
    env_steps = config.num_updates * config.steps_per_update
    measured = {}
    if checkout:
        ppo_rnn = load_purejaxrl(checkout, "ppo_rnn")
        ppo_rnn.nn = flax_linen_as_their_file_expects()
        train = ppo_rnn.make_train({**PUREJAXRL_CONFIG, "TOTAL_TIMESTEPS": steps})
        c, r, out = _time(train, jax.random.PRNGKey(30))
        final = np.asarray(out["metric"]["returned_episode_returns"])[-1].mean()
        measured["PureJaxRL ppo_rnn.py (truncation = termination)"] = (c, env_steps / r, final)
    c, r, (_, metrics) = _time(PPO.make_train(config), jax.random.key(30))
    final = np.nanmean(np.asarray(metrics["episode_return"])[-5:])
    measured["pgjax PPO --policy gru (truncation bootstrapped)"] = (c, env_steps / r, final)
    return measured, {"env_steps": env_steps}


def memory_study(quick: bool) -> dict:
    """Per task and policy: final returns `[SEEDS]` and the learning curve `[SEEDS, updates]`."""
    import jax
    import numpy as np

    from pgjax.algorithms.ppo import PPO

    keys = jax.random.split(jax.random.key(7), SEEDS)
    study = {}
    for env_id, task in TASKS.items():
        for policy in ("gru", "mlp"):
            config = task_config(env_id, policy, task["steps"][0 if quick else 1])
            c, r, (_, metrics) = _time(jax.vmap(PPO.make_train(config)), keys)
            curve = np.asarray(metrics["episode_return"])
            tail = max(1, curve.shape[1] // 10)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                final = np.nanmean(curve[:, -tail:], axis=1)
            study[(env_id, policy)] = {
                "final": final,
                "curve": curve,
                "steps_per_update": config.steps_per_update,
                "compile_s": c,
                "run_s": r,
            }
    return study


def plot(study: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(TASKS), figsize=(4 * len(TASKS), 3.2))
    for ax, env_id in zip(axes, TASKS, strict=True):
        for policy, colour in (("gru", "tab:blue"), ("mlp", "tab:orange")):
            entry = study[(env_id, policy)]
            curve = entry["curve"]
            steps = (np.arange(curve.shape[1]) + 1) * entry["steps_per_update"]
            # Updates in which no episode ended (Pendulum's 200-step episodes outlast a
            # rollout) have no return: the curve joins the updates that have one.
            seen = np.isfinite(curve).any(axis=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                low, mid, high = np.nanpercentile(curve[:, seen], [25, 50, 75], axis=0)
            label = "GRU" if policy == "gru" else "MLP"
            ax.plot(steps[seen], mid, color=colour, label=label)
            ax.fill_between(steps[seen], low, high, color=colour, alpha=0.25)
        ax.axhline(TASKS[env_id]["solved"], color="grey", linestyle=":", linewidth=1)
        ax.set_title(env_id, fontsize=10)
        ax.set_xlabel("environment steps per seed")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    axes[0].set_ylabel(f"training return (median, IQR; {SEEDS} seeds)")
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    if smoke:  # it has no setting small enough for the smoke test yet
        from benchmarks.common import skipped

        return skipped(NAME, "no smoke setting yet; its quick mode takes minutes")
    import numpy as np

    from benchmarks.common import format_rate, format_seconds, markdown_table, result

    steps = 32_768 if quick else PUREJAXRL_CONFIG["TOTAL_TIMESTEPS"]
    measured, info = against_purejaxrl(steps)
    rows = [
        [label, format_seconds(c), format_rate(rate), f"{final:.0f}"]
        for label, (c, rate, final) in measured.items()
    ]
    table = markdown_table(["program", "compile", "env steps/s", "final return"], rows)
    labels = list(measured)
    ratio = None
    if len(labels) == 2:
        ratio = measured[labels[1]][1] / measured[labels[0]][1]
        verdict = "met" if ratio >= 1 else "NOT met"
        target = f"throughput ≥ PureJaxRL's: {ratio:.2f}× — **{verdict}**"
    else:
        target = "PureJaxRL row skipped (no checkout given: `--purejaxrl PATH`)."

    study = memory_study(quick)
    study_rows = []
    for env_id, task in TASKS.items():
        row = [env_id, f"{task['steps'][0 if quick else 1]:,}"]
        for policy in ("gru", "mlp"):
            final = study[(env_id, policy)]["final"]
            solved = int((final >= task["solved"]).sum())
            q1, q2, q3 = np.nanpercentile(final, [25, 50, 75])
            row += [f"{q2:.2f} ({q1:.2f}–{q3:.2f})", f"{solved}/{SEEDS}"]
        row.append(f"{task['solved']:g}")
        study_rows.append(row)
    study_table = markdown_table(
        ["task", "steps/seed", "GRU return", "GRU solved", "MLP return", "MLP solved", "bar"],
        study_rows,
    )
    figure = Path(out_dir or "benchmarks/out") / "ppo_rnn.png"
    plot(study, figure)
    seconds = sum(e["compile_s"] + e["run_s"] for e in study.values())
    notes = (
        f"One seed, {info['env_steps']:,} steps of `CartPole-v1-masked`, PureJaxRL's "
        "`ppo_rnn.py` configuration for both. " + target + "\n\n"
        f"Recurrent (GRU) vs feed-forward (MLP) PPO, {SEEDS} seeds each, equal steps: returns "
        "of the training episodes over the last 10% of updates, median (quartiles) over seeds; "
        "solved: seeds at or above the bar.\n\n" + study_table + "\n\n"
        f"The study's 8 programs took {seconds:.0f} s (compile and run)."
    )
    headline = ""
    if ratio is not None:
        headline = f"Recurrent PPO (GRU) vs PureJaxRL's ppo_rnn.py: throughput {ratio:.2f}×"
    data = {
        "against_purejaxrl": {k: list(v) for k, v in measured.items()},
        "study": {
            f"{env_id}/{policy}": {
                "final": entry["final"].tolist(),
                "curve": entry["curve"].tolist(),
                "steps_per_update": entry["steps_per_update"],
                "compile_s": entry["compile_s"],
                "run_s": entry["run_s"],
            }
            for (env_id, policy), entry in study.items()
        },
    }
    return result(
        NAME,
        table,
        data,
        title="Recurrent PPO: pgjax vs PureJaxRL's ppo_rnn.py, and memory vs none",
        notes=notes,
        headline=headline,
        files=[str(figure)],
    )
