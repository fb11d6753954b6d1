"""A stochastic optimum: Sutton & Barto's short corridor with switched actions (Example 13.1,
`pgjax.envs.corridor`), where every state shows the same observation, so a policy is one number,
p = π(right), and the best policy is stochastic: p* = 2 − √2 ≈ 0.586, J* = −(6 + 4√2) ≈ −11.66.
A deterministic policy never reaches the goal (always right bounces between the first two
states), and an ε-greedy policy on action values is greedy right or greedy left: at ε = 0.1,
J = −44.2 or −82.1 (the book's −44 and −82).

REINFORCE, PPO and DQN run their `ShortCorridor-pgjax` presets for `SEEDS` seeds, vmapped in
one program per algorithm split across the JAX devices. For each seed the benchmark reads the
trained policy's p (the policy network on the one observation; for DQN the ε-greedy policy at
its final ε that its `act` samples from), the closed-form J(p), and J evaluated by `EPISODES`
episodes of the stochastic policy in fresh environments (`evaluate_runs(...,
deterministic=False)`). The deterministic evaluation (the policy's mode, what pgjax's other
benchmarks report) is shown too, because it is meaningless here and that is the point: the mode
of a stochastic optimum is a deterministic policy, truncated at the 1000-step time limit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

NAME = "short_corridor"
SEEDS, QUICK_SEEDS, SMOKE_SEEDS = 16, 4, 2
EPISODES, QUICK_EPISODES, SMOKE_EPISODES = 4000, 500, 4
DETERMINISTIC_EPISODES = 4  # the mode is deterministic and so is the corridor: one would do
QUICK_BUDGET_FRACTION = 0.25
SMOKE_UPDATES = 2
ALGORITHMS = (("REINFORCE", "reinforce"), ("PPO", "ppo"), ("DQN (ε-greedy)", "dqn"))
P_BAND, J_BAND = 0.05, 0.05  # the targets: p within ±0.05 of p*, J within 5% of J*


def right_probability(name: str, config, state):
    """π(right) of one run's trained policy on the corridor's one observation: the policy
    network's (on-policy algorithms), or DQN's ε-greedy policy at its final ε."""
    import jax.numpy as jnp

    import pgjax
    from pgjax.algorithms import dqn
    from pgjax.envs.corridor import RIGHT
    from pgjax.training import on_policy

    observation = jnp.ones((1, 1))
    if name == "dqn":
        q_values = dqn.network(config).apply(state.params["q"], observation)
        policy = pgjax.epsilon_greedy(q_values, state.hyperparams["epsilon_end"])
    else:
        policy = on_policy.make_network(config).apply(state.params, observation, method="policy")
    return jnp.exp(policy.log_prob(jnp.array([RIGHT])))[0]


def measure_algorithm(label: str, name: str, seeds: int, episodes: int, budget) -> dict:
    """One algorithm: its preset trained on `seeds` seeds, then per seed p, the stochastic
    evaluation's mean return and the deterministic one's."""
    import jax

    from pgjax.envs.corridor import ENV_ID
    from pgjax.runs import registry
    from pgjax.training.evaluation import evaluate_runs
    from pgjax.training.parallel import across_devices

    algorithm = registry.get(name)
    config = algorithm.config_class.for_env(ENV_ID)
    if budget is not None:
        config = algorithm.config_class.for_env(ENV_ID, total_steps=budget(config))
    train = across_devices(algorithm.make_train(config), seeds)
    keys = jax.random.split(jax.random.key(0), seeds)
    start = time.perf_counter()
    states, _ = jax.block_until_ready(train(keys))
    train_s = time.perf_counter() - start
    p = jax.vmap(lambda state: right_probability(name, config, state))(states)
    stochastic = evaluate_runs(algorithm, config, states, 1, episodes, deterministic=False)
    mode = evaluate_runs(algorithm, config, states, 2, DETERMINISTIC_EPISODES)
    print(f"  {label}: {train_s:.1f} s (compile included)", flush=True)
    return {
        "config": config.to_dict(),
        "steps_per_seed": config.num_updates * config.steps_per_update,
        "train_s": train_s,
        "p": np.asarray(p, np.float64),
        "stochastic_return": np.asarray(stochastic["return"], np.float64).mean(axis=1),
        "stochastic_return_se": np.asarray(stochastic["return"], np.float64).std(axis=1, ddof=1)
        / np.sqrt(episodes),
        "deterministic_return": np.asarray(mode["return"], np.float64).mean(axis=1),
    }


def measure(quick: bool, smoke: bool) -> dict:
    """Every algorithm of `ALGORITHMS`, at the size the mode asks for."""
    from benchmarks.common import smoke_budget

    seeds = SMOKE_SEEDS if smoke else QUICK_SEEDS if quick else SEEDS
    episodes = SMOKE_EPISODES if smoke else QUICK_EPISODES if quick else EPISODES
    budget = None
    if smoke:
        budget = lambda config: smoke_budget(config, SMOKE_UPDATES)  # noqa: E731
    elif quick:
        budget = lambda config: int(config.total_steps * QUICK_BUDGET_FRACTION)  # noqa: E731
    return {
        label: measure_algorithm(label, name, seeds, episodes, budget) for label, name in ALGORITHMS
    }


def _mean_sd(values: np.ndarray, digits: int) -> str:
    sd = values.std(ddof=1) if values.size > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {sd:.{digits}f}"


def summarise(run: dict) -> dict:
    """Per algorithm: the closed-form J of each seed's p and how many seeds meet the targets."""
    from pgjax.envs.corridor import OPTIMAL_RETURN, OPTIMAL_RIGHT_PROBABILITY, expected_return

    p = np.asarray(run["p"])
    analytic = expected_return(p)
    return {
        "analytic_return": analytic,
        "p_within": int((np.abs(p - OPTIMAL_RIGHT_PROBABILITY) <= P_BAND).sum()),
        "return_within": int((np.abs(analytic / OPTIMAL_RETURN - 1) <= J_BAND).sum()),
        "seeds": int(p.size),
    }


def table(runs: dict, episodes: int) -> str:
    from benchmarks.common import markdown_table
    from pgjax.envs.corridor import (
        OPTIMAL_RETURN,
        OPTIMAL_RIGHT_PROBABILITY,
        epsilon_greedy_returns,
    )

    right, left = epsilon_greedy_returns(0.1)
    rows = [
        ["optimum (analytic)", f"{OPTIMAL_RIGHT_PROBABILITY:.3f}", f"{OPTIMAL_RETURN:.2f}"]
        + ["—"] * 5,
        ["ε-greedy right, ε = 0.1 (analytic)", "0.950", f"{right:.2f}"] + ["—"] * 5,
        ["ε-greedy left, ε = 0.1 (analytic)", "0.050", f"{left:.2f}"] + ["—"] * 5,
    ]
    for label, run in runs.items():
        s = summarise(run)
        rows.append(
            [
                label,
                _mean_sd(np.asarray(run["p"]), 3),
                _mean_sd(s["analytic_return"], 2),
                _mean_sd(np.asarray(run["stochastic_return"]), 2),
                f"{s['p_within']}/{s['seeds']}",
                f"{s['return_within']}/{s['seeds']}",
                f"{np.mean(run['deterministic_return']):.0f}",
                f"{run['steps_per_seed']:,}",
            ]
        )
    return markdown_table(
        [
            "policy",
            "π(right), mean ± sd",
            "J(π(right)), closed form",
            f"J evaluated, stochastic policy ({episodes} episodes)",
            "π(right) within ±0.05 of p*",
            "J(π(right)) within 5% of J*",
            "deterministic evaluation (mode)",
            "env steps per seed",
        ],
        rows,
        align="lrrrrrrr",
    )


def plot(runs: dict, path: Path) -> Path:
    """J(p) in closed form with each seed's learned (p, evaluated J) marked, the optimum and
    the ε-greedy values at ε = 0.1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgjax.envs.corridor import (
        OPTIMAL_RETURN,
        OPTIMAL_RIGHT_PROBABILITY,
        epsilon_greedy_returns,
        expected_return,
    )

    grid = np.linspace(0.02, 0.98, 481)
    fig, (full, zoom) = plt.subplots(1, 2, figsize=(11, 4.3))
    right, left = epsilon_greedy_returns(0.1)
    for axis in (full, zoom):
        axis.plot(
            grid, expected_return(grid), color="black", linewidth=1.2, label="J(p), closed form"
        )
        axis.plot(OPTIMAL_RIGHT_PROBABILITY, OPTIMAL_RETURN, "k*", markersize=12, label="optimum")
        for label, run in runs.items():
            axis.scatter(run["p"], run["stochastic_return"], s=22, alpha=0.7, label=label)
        axis.set_xlabel("p = π(right)")
        axis.set_ylabel("J (return per episode)")
    full.plot([0.95, 0.05], [right, left], "rv", markersize=9, label="ε-greedy, ε = 0.1")
    full.axhline(right, color="red", linewidth=0.7, linestyle=":")
    full.axhline(left, color="red", linewidth=0.7, linestyle=":")
    full.set_ylim(-100, 0)
    full.set_title("Short corridor: J(p) and the learned policies")
    full.legend(fontsize=8, loc="lower center")
    zoom.set_xlim(OPTIMAL_RIGHT_PROBABILITY - 0.1, OPTIMAL_RIGHT_PROBABILITY + 0.1)
    zoom.set_ylim(OPTIMAL_RETURN - 1.0, OPTIMAL_RETURN + 0.6)
    zoom.axvspan(OPTIMAL_RIGHT_PROBABILITY - P_BAND, OPTIMAL_RIGHT_PROBABILITY + P_BAND, alpha=0.1)
    zoom.set_title("Near p* (shaded: p* ± 0.05), J evaluated by episodes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(runs: dict, figure: Path, episodes: int) -> dict:
    from benchmarks.common import result
    from pgjax.envs.corridor import OPTIMAL_RETURN, OPTIMAL_RIGHT_PROBABILITY

    plot(runs, figure)
    seeds = len(next(iter(runs.values()))["p"])
    standard_errors = ", ".join(
        f"{label} {np.mean(run['stochastic_return_se']):.2f}" for label, run in runs.items()
    )
    cells = []
    for label, run in runs.items():
        if label.startswith("DQN"):
            cells.append(f"DQN's ε-greedy J {np.mean(run['stochastic_return']):.1f}")
        else:
            cells.append(
                f"{label} π(right) {_mean_sd(np.asarray(run['p']), 3)}, "
                f"J {np.mean(run['stochastic_return']):.2f}"
            )
    headline = (
        f"Short corridor, a stochastic optimum (p* = {OPTIMAL_RIGHT_PROBABILITY:.3f}, "
        f"J* = {OPTIMAL_RETURN:.2f}), {seeds} seeds: " + "; ".join(cells)
    )
    notes = (
        f"{seeds} seeds per algorithm, its `ShortCorridor-pgjax` preset, vmapped in one program "
        "across the JAX devices. π(right): the trained policy on the corridor's one observation "
        "(DQN: its ε-greedy policy at the final ε = 0.1, which `act` samples from). J(π(right)): "
        f"the closed form −2(2 − p)/(p(1 − p)). J evaluated: the mean return of {episodes} "
        "episodes of the stochastic policy per seed, fresh environments, 1000-step time limit "
        "(which biases J by < 5e-5 for p in [0.05, 0.95]); its standard error per seed (mean "
        f"over seeds): {standard_errors}. The 5% band is judged on the closed form of the "
        "learned p, which has no sampling error. The deterministic "
        "evaluation is the policy's mode, what pgjax's other benchmarks report: here it is "
        "meaningless, and that is the point. The mode of the stochastic optimum, like DQN's "
        "greedy policy, always goes right and bounces between the first two states until the "
        "time limit (−1000). "
        "REINFORCE's steps are its episode buffers padded to the time limit (an upper bound on "
        "the steps used; episodes average 12 steps at p*). ± is the sd over seeds."
    )
    data = {label: {**run, **summarise(run)} for label, run in runs.items()}
    return result(
        NAME,
        table(runs, episodes),
        data,
        title="Short corridor (Sutton & Barto, Example 13.1): a stochastic optimum",
        notes=notes,
        headline=headline,
        files=[figure],
    )


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    import jax

    out_dir = Path(out_dir or Path(__file__).resolve().parent / "out")
    episodes = SMOKE_EPISODES if smoke else QUICK_EPISODES if quick else EPISODES
    figure = out_dir / f"{NAME}-{jax.default_backend()}.png"
    return report(measure(quick, smoke), figure, episodes)
