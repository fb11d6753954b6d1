"""Invalid-action masking vs an invalid-action penalty, measured on a task where most actions are
invalid (Huang & Ontañón, 2020, "A closer look at invalid action masking in policy gradient
algorithms", https://arxiv.org/abs/2006.14171).

    python -m benchmarks.run action_masking [--quick | --smoke]

The task is `"CellSelect-pgjax"` (`pgjax.envs.selection.CellSelect`): on an 8×8 grid the agent
picks one of 64 cells to move to, and only the 2 to 4 cells next to it are valid; an invalid
action is a no-op. Reaching the far corner at step t pays 1 − 0.9·t/32 (the optimum, a shortest
path, returns 0.8 on average); 32 steps truncate the episode.

Two PPO runs, identical but for how invalid actions are handled:

* **masked**: the environment exposes the mask, the policy's categorical is restricted to the
  valid cells when acting and in the update (`Transition.action_mask`);
* **penalty**: `"CellSelect-penalty-pgjax"`, the same task without a mask, where an invalid
  action also costs `pgjax.envs.selection.INVALID_PENALTY` (0.1).

`SEEDS` seeds of each are vmapped in one program. The run is cut into `EVALUATIONS` segments;
after each, `EPISODES` fresh episodes of the masked task (its reward, without the penalty) are
played with actions *sampled* from the current policy, as in training (the masked run samples
from its masked policy, the penalty run from its unmasked one), and two numbers are kept: the
mean return, and the share of the sampled actions that were invalid.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

NAME = "action_masking"
MASKED_ID, PENALTY_ID = "CellSelect-pgjax", "CellSelect-penalty-pgjax"
OPTIMUM = 0.8  # the shortest path's mean return (`CellSelect`'s docstring)
THRESHOLD = 0.9 * OPTIMUM  # "near the optimum": steps to reach it are reported
VARIANTS = (("masked", MASKED_ID), ("penalty", PENALTY_ID))


@dataclasses.dataclass(frozen=True)
class Settings:
    total_steps: int = 204_800  # 400 updates of 512 steps: an evaluation every 10
    seeds: int = 16
    evaluations: int = 40
    episodes: int = 64


QUICK = Settings(total_steps=51_200, seeds=4, evaluations=5, episodes=32)
SMOKE = Settings(total_steps=1024, seeds=2, evaluations=2, episodes=4)

# PPO's defaults but for short rollouts (the task's episodes are at most 32 steps) and a larger
# learning rate; the same for both variants.
OVERRIDES = {"num_envs": 16, "num_steps": 32, "learning_rate": 3e-3, "entropy_coef": 0.01}


def make_train(env_id: str, masked: bool, settings: Settings):
    """`train(key) -> (returns [evaluations], invalid share [evaluations])` of one seed, and
    the config."""
    import jax
    import jax.numpy as jnp

    from pgjax.algorithms.ppo import PPO, PPOConfig
    from pgjax.envs import EpisodeStatistics, VecEnv, action_mask
    from pgjax.training.algorithm import scan_updates

    config = PPOConfig(env_id=env_id, total_steps=settings.total_steps, **OVERRIDES)
    config.validate()
    episodes = settings.episodes
    env = EpisodeStatistics(VecEnv(MASKED_ID, episodes))
    horizon = env.spec.max_episode_steps
    length, first = divmod(config.num_updates, settings.evaluations)

    def evaluate(state, key):
        def step(carry, step_key):
            env_state, obs, returns, finished, invalid, steps = carry
            action_key, env_key = jax.random.split(step_key)
            mask = action_mask(env_state)
            given = {"action_mask": mask} if masked else {}
            action = PPO.act(config, state, obs, action_key, False, **given)
            wrong = ~jnp.take_along_axis(mask, action[:, None], axis=-1)[:, 0]
            invalid = invalid + (wrong & ~finished).sum()
            steps = steps + (~finished).sum()
            obs, env_state, _, _, _, info = env.step(env_key, env_state, action)
            returns = jnp.where(info["episode_done"] & ~finished, info["episode_return"], returns)
            finished = finished | info["episode_done"]
            return (env_state, obs, returns, finished, invalid, steps), None

        reset_key, key = jax.random.split(key)
        obs, env_state = env.reset(reset_key)
        zeros = jnp.zeros(episodes)
        carry = (env_state, obs, zeros, zeros.astype(bool), jnp.int32(0), jnp.int32(0))
        (_, _, returns, _, invalid, steps), _ = jax.lax.scan(
            step, carry, jax.random.split(key, horizon)
        )
        return returns.mean(), invalid / steps

    def train(key):
        init_key, evaluation_key = jax.random.split(key)
        state = PPO.init(config, init_key)
        state, _ = scan_updates(PPO, config, state, first)

        def segment(state, segment_key):
            state, _ = scan_updates(PPO, config, state, length)
            return state, evaluate(state, segment_key)

        keys = jax.random.split(evaluation_key, settings.evaluations)
        return jax.lax.scan(segment, state, keys)[1]

    return train, config


def measure(settings: Settings) -> dict:
    """Each variant's curves `[seeds, evaluations]` (return, invalid share), its evaluation
    steps and its compile and run seconds."""
    import jax

    from pgjax.training.evaluation import evaluation_steps
    from pgjax.training.parallel import across_devices

    runs = {}
    for label, env_id in VARIANTS:
        train, config = make_train(env_id, label == "masked", settings)
        program = across_devices(train, settings.seeds)
        keys = jax.random.split(jax.random.key(0), settings.seeds)
        start = time.perf_counter()
        compiled = program.lower(keys).compile()
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        returns, invalid = jax.block_until_ready(compiled(keys))
        run_s = time.perf_counter() - start
        runs[label] = {
            "env_id": env_id,
            "config": config.to_dict(),
            "returns": np.asarray(returns, np.float64),
            "invalid_share": np.asarray(invalid, np.float64),
            "evaluation_steps": np.asarray(evaluation_steps(config, settings.evaluations)),
            "episodes": settings.episodes,
            "compile_s": compile_s,
            "run_s": run_s,
        }
        print(f"  {label}: compile {compile_s:.1f} s, run {run_s:.1f} s", flush=True)
    return runs


def _quartiles(values: np.ndarray) -> str:
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return f"{median:.3f} [{q1:.3f}, {q3:.3f}]"


def _steps_to_threshold(run: dict) -> tuple[str, int]:
    """The median over seeds of the steps at the first evaluation at or above `THRESHOLD`
    (seeds that never get there count as above the budget), and how many seeds got there."""
    reached = run["returns"] >= THRESHOLD
    steps = np.where(reached.any(axis=1), run["evaluation_steps"][reached.argmax(axis=1)], np.inf)
    median = np.quantile(steps, 0.5, method="higher")
    first, budget = run["evaluation_steps"][0], run["evaluation_steps"][-1]
    text = f"{median / 1000:.0f}k" if np.isfinite(median) else f"> {budget / 1000:.0f}k"
    if median == first:  # already there at the first evaluation: it says no more
        text = f"≤ {text}"
    return text, int(reached.any(axis=1).sum())


def plot(runs: dict, path: Path) -> Path:
    """Return and invalid share vs environment steps, mean ± 95% CI over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for label, run in runs.items():
        steps = run["evaluation_steps"]
        for axis, key in zip(axes, ("returns", "invalid_share"), strict=True):
            curves = run[key]
            mean = curves.mean(axis=0)
            half = 1.96 * curves.std(axis=0, ddof=1) / np.sqrt(len(curves))
            (line,) = axis.plot(steps, mean, label=f"PPO, {label}")
            axis.fill_between(steps, mean - half, mean + half, alpha=0.2, color=line.get_color())
    axes[0].axhline(OPTIMUM, color="grey", linewidth=0.8, linestyle=":", label="optimum")
    axes[0].set_ylabel("return (task reward, sampled actions)")
    axes[1].set_ylabel("share of sampled actions that are invalid")
    for axis in axes:
        axis.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")
        axis.set_xlabel("environment steps per seed")
        axis.legend(fontsize=8)
    seeds = len(next(iter(runs.values()))["returns"])
    fig.suptitle(f"{MASKED_ID}: 64 actions, at most 4 valid; mean ± 95% CI over {seeds} seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(runs: dict, figure: Path) -> dict:
    from benchmarks.common import markdown_table, result

    rows, summary = [], {}
    for label, run in runs.items():
        steps_text, reached = _steps_to_threshold(run)
        final = run["returns"][:, -1]
        invalid = run["invalid_share"]
        summary[label] = {
            "final_return_median": float(np.median(final)),
            "final_invalid_share_mean": float(invalid[:, -1].mean()),
            "invalid_share_over_training_mean": float(invalid.mean()),
            "steps_to_threshold_median": steps_text,
            "seeds_reaching_threshold": reached,
        }
        rows.append(
            (
                f"PPO, {label}",
                _quartiles(final),
                f"{invalid[:, 0].mean():.1%}",
                f"{invalid.mean():.1%}",
                f"{invalid[:, -1].mean():.2%}",
                f"{steps_text} ({reached}/{len(final)})",
            )
        )
    total = int(next(iter(runs.values()))["evaluation_steps"][-1])
    table = markdown_table(
        (
            "variant",
            f"final return, median [IQR] (optimum {OPTIMUM})",
            "invalid, 1st evaluation",
            "invalid, mean over training",
            "invalid, final",
            f"steps to return ≥ {THRESHOLD:.2f}, median (seeds)",
        ),
        rows,
        align="lrrrrr",
    )
    seeds = len(next(iter(runs.values()))["returns"])
    evaluations = len(next(iter(runs.values()))["evaluation_steps"])
    masked, penalty = summary["masked"], summary["penalty"]
    headline = (
        f"Invalid-action masking vs a penalty, PPO on {MASKED_ID} (60 of 64 actions invalid), "
        f"{seeds} seeds, {total / 1000:.0f}k steps: final return "
        f"{masked['final_return_median']:.2f} vs {penalty['final_return_median']:.2f} "
        f"(optimum {OPTIMUM}), invalid actions "
        f"{masked['invalid_share_over_training_mean']:.0%} vs "
        f"{penalty['invalid_share_over_training_mean']:.0%} of those sampled over training"
    )
    notes = (
        f"{seeds} seeds per variant, vmapped in one program; PPO with {OVERRIDES} and otherwise "
        f"its defaults, {total} environment steps per seed. After each of {evaluations} equal "
        f"segments, {runs['masked']['episodes']} fresh "
        f"episodes of {MASKED_ID} are played with actions sampled from the current policy: "
        "the return is the task's (no penalty), the invalid share counts the sampled actions "
        "that were invalid over those episodes (the masked policy samples from its masked "
        f"distribution, so its share is 0 by construction). The penalty run trains on "
        f"{PENALTY_ID}: the same task without a mask, −0.1 per invalid action. Figure: mean ± "
        "95% CI (normal approximation) over seeds."
    )
    plot(runs, figure)
    data = {label: {**runs[label], **summary[label]} for label in runs}
    return result(
        NAME,
        table,
        data,
        title="Invalid-action masking vs an invalid-action penalty (PPO, CellSelect-pgjax)",
        notes=notes,
        headline=headline,
        files=[figure],
    )


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    settings = SMOKE if smoke else QUICK if quick else Settings()
    out_dir = Path(out_dir or Path(__file__).resolve().parent / "out")
    return report(measure(settings), out_dir / f"{NAME}.png")
