"""Bounded continuous actions: PPO with a clipped Gaussian, a tanh-squashed Gaussian and a Beta
policy (issue 26, measurement 2).

    python -m benchmarks.run bounded_actions [--quick]

Three ways to keep an action inside the box [low, high] (`OnPolicyConfig.action_bounds`):

* clip: a Gaussian whose samples the environment clips (`pgjax.envs.ClipAction`); the
  log-probability is the unclipped sample's, the bias Fujita & Maeda (2018), "Clipped action
  policy gradient" (https://arxiv.org/abs/1802.07564), describe near the bounds;
* tanh: the same Gaussian squashed by tanh onto the box, log-probability with the tanh and affine
  log-determinants (`pgjax.training.networks.SquashedGaussianPolicy`);
* beta: a Beta policy over the box, α, β = 1 + softplus(·) (Chou et al., 2017).

PPO with each environment's preset (`PPOConfig.for_env`) and only `action_bounds` changed, on
Pendulum-v1, MountainCarContinuous-v0 and Brax's inverted_pendulum, `SEEDS` seeds vmapped and
split across the CPU's cores. Budgets are cut to fit a loaded 2-core CPU (`BUDGETS`; the Brax
preset's 2048 environments and 2M steps become `BRAX_OVERRIDES`). Per seed:

* final return: the training policy's (stochastic) mean episode return over the last 10% of the
  updates;
* steps to threshold: the environment steps from which the training return, averaged over
  windows of 1/50 of the run, stays at or above the environment's `THRESHOLDS` value to the
  end (the end of that window); seeds that end below it are counted apart;
* fraction at the bound: of the final policy's sampled action components over `max_episode_steps`
  steps of `EVAL_ENVS` fresh environments (episodes that end restart), those within `TOLERANCE`
  of `low` or `high`, after the clip the environment applies (clip) or as sampled (tanh, beta,
  which the environment does not clip).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import markdown_table, result, smoke_budget
from pgjax.training.parallel import across_devices

NAME = "bounded_actions"
OPTIONS = ("clip", "tanh", "beta")
ENVS = ("Pendulum-v1", "MountainCarContinuous-v0", "brax/inverted_pendulum")
SEEDS = 16
# Set before the full run, for its cut budgets (below): a partial success each policy can reach.
THRESHOLDS = {
    "Pendulum-v1": -400.0,  # swung up from most starts (the optimum is ≈ −150)
    "MountainCarContinuous-v0": 50.0,  # reaches the flag (+100) in most episodes
    "brax/inverted_pendulum": 500.0,  # upright for half of the 1000 steps
}
# Steps per seed. The presets' (3e5, 1e6, 2e6) do not fit a loaded 2-core CPU in 20 minutes
# for 3 options × 16 seeds.
BUDGETS = {
    "Pendulum-v1": 81_920,  # 40 updates of 16 × 128
    "MountainCarContinuous-v0": 81_920,  # 20 updates of 16 × 256
    "brax/inverted_pendulum": 49_152,  # 24 updates of BRAX_OVERRIDES' 32 × 64
}
# Brax's preset collects 2048 environments × 80 steps per update; here 32 × 64, in 4
# minibatches, so that 16 seeds of it run on a CPU (the preset's other settings are kept).
BRAX_OVERRIDES = {"num_envs": 32, "num_steps": 64, "num_minibatches": 4}
QUICK_BUDGETS = {
    "Pendulum-v1": 20_480,
    "MountainCarContinuous-v0": 20_480,
    "brax/inverted_pendulum": 12_288,
}
EVAL_ENVS = 4
TOLERANCE = 1e-3
WINDOWS = 50


def make_config(env_id: str, option: str, total_steps: int | None):
    from pgjax.algorithms.ppo import PPOConfig

    overrides = dict(BRAX_OVERRIDES) if env_id.startswith("brax/") else {}
    if total_steps is not None:
        overrides["total_steps"] = total_steps
    # The classic presets: what the recorded study ran (issue 27 re-derived Pendulum's later).
    return PPOConfig.for_env(env_id, "classic", action_bounds=option, **overrides)


def bound_fraction_fn(config, num_envs: int):
    """`fraction(state, key)`: the share of the policy's sampled action components within
    `TOLERANCE` of a bound, after the environment's clip where it clips, over the environment's
    `max_episode_steps` steps in `num_envs` fresh environments."""
    from pgjax.algorithms.ppo import PPO
    from pgjax.envs import VecEnv, env_spec

    spec = env_spec(config.env_id)
    env = VecEnv(config.env_id, num_envs)
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)

    def fraction(state, key):
        def step(carry, step_key):
            env_state, obs = carry
            action_key, env_key = jax.random.split(step_key)
            action = PPO.act(config, state, obs, action_key, False)
            # What `ClipAction` does under "clip"; tanh and beta actions are inside already.
            action = jnp.clip(action, low, high)
            at_bound = (action - low <= TOLERANCE) | (high - action <= TOLERANCE)
            obs, env_state, *_ = env.step(env_key, env_state, action)
            return (env_state, obs), at_bound.mean()

        reset_key, key = jax.random.split(key)
        obs, env_state = env.reset(reset_key)
        keys = jax.random.split(key, spec.max_episode_steps)
        _, shares = jax.lax.scan(step, (env_state, obs), keys)
        return shares.mean()

    return fraction


def train(env_id: str, option: str, seeds: int, total_steps: int | None):
    """`(returns [seeds, updates], bound fractions [seeds], config, seconds)`."""
    from pgjax.algorithms.ppo import PPO

    config = make_config(env_id, option, total_steps)
    keys = jax.random.split(jax.random.key(0), seeds)
    start = time.perf_counter()
    states, metrics = across_devices(PPO.make_train(config), seeds)(keys)
    returns = np.asarray(metrics["episode_return"], np.float64)
    seconds = time.perf_counter() - start
    eval_keys = jax.random.split(jax.random.key(1), seeds)
    fractions = across_devices(bound_fraction_fn(config, EVAL_ENVS), seeds)(states, eval_keys)
    return returns, np.asarray(fractions, np.float64), config, seconds


def smoothed(returns: np.ndarray, points: int = WINDOWS) -> np.ndarray:
    """`[seeds, points]`: the mean return in each of `points` equal windows of updates (NaN
    where no episode ended in the window)."""
    windows = np.array_split(returns, min(points, returns.shape[1]), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
        return np.stack([np.nanmean(w, axis=1) for w in windows], axis=1)


def steps_to_threshold(returns: np.ndarray, threshold: float, steps_per_update: int):
    """Per seed, the environment steps at the end of the window (`smoothed`) from which the
    mean training return stays at or above `threshold` to the end of the run (windows where
    no episode ended are skipped); NaN for a seed whose last such window is below it.

    "Stays", not "first reaches": early in training the episodes that end first are the short
    ones, which on MountainCarContinuous are those that found the flag by chance (return ≈ 80
    in the first windows, before the 999-step failures end)."""
    curve = smoothed(returns)
    ends = np.cumsum([w.shape[1] for w in np.array_split(returns, curve.shape[1], axis=1)])
    steps = np.full(len(curve), np.nan)
    for seed, row in enumerate(curve):
        known = np.flatnonzero(np.isfinite(row))
        below = known[row[known] < threshold]
        if known.size and row[known[-1]] >= threshold:
            after = known[known > below[-1]] if below.size else known
            steps[seed] = ends[after[0]] * steps_per_update
    return steps


def final_returns(returns: np.ndarray) -> np.ndarray:
    """Per seed: the mean return of the episodes that ended in the last 10% of the updates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(returns[:, -max(1, returns.shape[1] // 10) :], axis=1)


def plot(curves: dict, steps: dict, path: Path) -> Path:
    """Training return against environment steps, one panel per environment, mean ± std over
    seeds per option."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.2), dpi=110)
    for ax, (env_id, by_option) in zip(np.atleast_1d(axes), curves.items(), strict=True):
        for option, curve in by_option.items():
            x = np.linspace(0, steps[env_id] / 1000, curve.shape[1] + 1)[1:]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, std = np.nanmean(curve, 0), np.nanstd(curve, 0)
            # Windows where no episode ended are left out, not drawn as gaps.
            known = np.isfinite(mean)
            x, mean, std = x[known], mean[known], std[known]
            ax.plot(x, mean, label=option)
            ax.fill_between(x, mean - std, mean + std, alpha=0.2)
        ax.axhline(THRESHOLDS[env_id], color="grey", linestyle=":", linewidth=1)
        ax.set_title(env_id, fontsize=9)
        ax.set_xlabel("thousand env steps per seed", fontsize=8)
        ax.set_ylabel("training episode return", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _cell(values: np.ndarray, fmt: str) -> str:
    return f"{np.nanmedian(values):{fmt}} ({np.nanmin(values):{fmt}})"


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    seeds = 2 if smoke else 4 if quick else SEEDS
    options = {env_id: OPTIONS for env_id in ENVS}
    if smoke:  # every option once, and the Brax adapter once (MountainCar's code is Pendulum's)
        options = {"Pendulum-v1": OPTIONS, "brax/inverted_pendulum": ("tanh",)}
    envs = tuple(options)
    budgets = QUICK_BUDGETS if quick else BUDGETS
    if smoke:  # two updates per run
        budgets = {e: smoke_budget(make_config(e, "clip", None), 2) for e in envs}
    data, curves, steps, rows = {}, {}, {}, []
    for env_id in envs:
        data[env_id], curves[env_id] = {}, {}
        for option in options[env_id]:
            returns, fractions, config, seconds = train(env_id, option, seeds, budgets[env_id])
            final = final_returns(returns)
            to_threshold = steps_to_threshold(returns, THRESHOLDS[env_id], config.steps_per_update)
            data[env_id][option] = {
                "returns": returns,
                "final_returns": final,
                "steps_to_threshold": to_threshold,
                "bound_fraction": fractions,
                "seconds": seconds,
            }
            curves[env_id][option] = smoothed(returns)
            steps[env_id] = config.num_updates * config.steps_per_update
            reached = np.isfinite(to_threshold)
            rows.append(
                [
                    env_id,
                    option,
                    _cell(final, ".1f"),
                    f"{np.median(to_threshold[reached]):,.0f}" if reached.any() else "–",
                    f"{reached.sum()}/{seeds}",
                    f"{np.median(fractions):.3f}",
                    f"{seconds:.0f}",
                ]
            )
            print(
                f"{env_id} {option}: final {np.median(final):.1f}, reached {reached.sum()}, "
                f"at bound {np.median(fractions):.3f} ({seconds:.0f} s)",
                flush=True,
            )
    table = markdown_table(
        [
            "environment",
            "action_bounds",
            "final return: median (worst)",
            "steps to threshold (median of seeds reaching it)",
            "seeds reaching it",
            "fraction of actions at a bound (median)",
            "train s",
        ],
        rows,
    )
    files = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        files.append(plot(curves, steps, out_dir / "bounded_actions.png"))
    thresholds = ", ".join(f"{e} {THRESHOLDS[e]:g}" for e in envs)
    notes = (
        f"PPO, each environment's preset with `action_bounds` changed; {seeds} seeds per row; "
        f"{', '.join(f'{e}: {s:,} steps' for e, s in steps.items())} per seed (cut to fit a "
        "loaded 2-core CPU; the presets' are 3e5, 1e6 and 2e6, so these are early-training "
        f"figures; inverted_pendulum with {BRAX_OVERRIDES['num_envs']} environments × "
        f"{BRAX_OVERRIDES['num_steps']} steps per update instead of 2048 × 80). Final return: "
        "the training policy's mean return over the last 10% of updates, median over seeds "
        f"(worst seed). Steps to threshold: from where the training return, averaged over "
        f"windows of 1/{WINDOWS} of the run (or one update), stays at or above it to the end; "
        f"thresholds {thresholds}, set before the run. Fraction at a bound: sampled action "
        f"components of the final policy within {TOLERANCE:g} of low or high (after the "
        "environment's clip for `clip`), over one time limit of steps in fresh environments. "
        f"`train s`: wall time of the {seeds}-seed run including compilation, on a shared CPU."
    )
    pendulum = data["Pendulum-v1"]
    headline = (
        "Bounded actions, PPO on Pendulum-v1 (median final return over "
        f"{seeds} seeds): clip {np.median(pendulum['clip']['final_returns']):.0f}, tanh "
        f"{np.median(pendulum['tanh']['final_returns']):.0f}, Beta "
        f"{np.median(pendulum['beta']['final_returns']):.0f}"
    )
    return result(
        NAME,
        table,
        data,
        title="Bounded continuous actions: clip vs tanh vs Beta",
        notes=notes,
        headline=headline,
        files=files,
    )
