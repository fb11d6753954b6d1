"""Baselines leave the policy gradient unbiased and cut its variance: measured on CartPole-v1.

    python -m benchmarks.baseline_variance [--out DIR] [--quick]

Policy-gradient theory says that subtracting a baseline b(s) from the return leaves the
REINFORCE gradient unbiased, E[∇ log π(a|s) · b(s)] = 0, but can reduce its variance a lot,
and that b = V(s) turns the return into an advantage. This measures it. For a fixed policy
snapshot (the random initialisation, and one partly trained by REINFORCE with a learned
baseline), M independent batches of N complete episodes each are drawn
(`pgjax.training.rollout.collect_episodes`, vmapped), and each batch gives one gradient estimate per
estimator, all from the same episodes:

    ĝ = (1/N) Σ_episodes Σ_t ∇_θ log π_θ(a_t|s_t) · Â_t          (actor parameters only)

with Â_t = G_t (none), G_t − batch mean at step t, G_t − leave-one-out mean at step t,
G_t − V_φ(s_t) (learned V), or GAE(λ) with V_φ for λ ∈ {0.9, 0.97}. G_t is the Monte-Carlo
return of the episode (γ = 0.99, nothing bootstrapped); V_φ is fitted to those returns on fresh
episodes of the frozen policy before any batch is drawn.

Statistics, per estimator b, over the M batches (float64):

* bias, ‖E ĝ_b − E ĝ_none‖: the batches are paired (same episodes), so d_m = ĝ_b,m − ĝ_none,m
  are M i.i.d. vectors with mean E ĝ_b − E ĝ_none. The plain ‖mean d‖ is biased upwards by
  noise (≈ √(tr Cov d / M) even when the means agree), so ‖E d‖² is estimated without bias by
  the U-statistic (1/(M(M−1))) Σ_{i≠j} d_iᵀ d_j, with a jackknife standard error; the 95%
  interval is U ± 1.96·se, square-rooted (clipped at 0) and divided by ‖mean ĝ_none‖. An
  interval that reaches 0 means no bias was detected at this sample size.
* total variance, tr Cov ĝ_b (the sum of the per-parameter variances: the expected squared
  distance of one estimate from its mean), relative to no baseline, with a 95% bootstrap
  interval over batches.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import pgjax
from benchmarks.common import markdown_table, result
from pgjax.algorithms import reinforce
from pgjax.envs import env_spec, make_env
from pgjax.training.on_policy import make_network
from pgjax.training.optimizers import gradient_step
from pgjax.training.rollout import collect_episodes, trajectory_gae

NAME = "baseline_variance"
ENV_ID = "CartPole-v1"
BASELINES = ("none", "batch_mean", "leave_one_out", "value")
GAE_LAMBDAS = (0.9, 0.97)
LABELS = {
    "none": "none (G_t)",
    "batch_mean": "batch mean",
    "leave_one_out": "leave-one-out",
    "value": "learned V(s)",
    "gae_0.9": "GAE λ=0.9",
    "gae_0.97": "GAE λ=0.97",
}
ESTIMATORS = (*BASELINES, *(f"gae_{lam}" for lam in GAE_LAMBDAS))


@dataclasses.dataclass(frozen=True)
class Settings:
    episodes_per_batch: int = 8  # N
    num_batches: int = 400  # M
    chunk: int = 25  # batches computed at once (memory)
    train_updates: int = 25  # REINFORCE updates of the partly trained snapshot
    value_episodes: int = 256  # episodes the critic is fitted on
    value_steps: int = 500  # Adam steps of that fit
    bootstrap_samples: int = 1000


QUICK = Settings(num_batches=60, chunk=20, train_updates=10, value_episodes=64, value_steps=200)
SMOKE = Settings(  # 3 batches: the fewest the jackknife takes
    episodes_per_batch=2,
    num_batches=3,
    chunk=3,
    train_updates=1,
    value_episodes=2,
    value_steps=2,
    bootstrap_samples=10,
)


def make_experiment(settings: Settings):
    config = reinforce.REINFORCEConfig.for_env(
        ENV_ID, "classic", num_envs=settings.episodes_per_batch, learning_rate=3e-3
    )
    network, spec = make_network(config), env_spec(ENV_ID)
    gamma, horizon = config.gamma, config.num_steps
    env = make_env(ENV_ID, settings.episodes_per_batch)
    value_env = make_env(ENV_ID, settings.value_episodes)

    def policy(actor, obs):
        return network.apply({"params": {"actor": actor}}, obs, method="policy")

    def value(critic, obs):
        return network.apply({"params": {"critic": critic}}, obs, method="value")

    def snapshot(key, updates: int):
        """Network parameters: initial, or after `updates` REINFORCE updates."""
        if updates == 0:
            return network.init(key, jnp.zeros((1, *spec.observation_shape)))
        trained = dataclasses.replace(config, total_steps=updates * config.steps_per_update)
        state, _ = jax.jit(reinforce.REINFORCE.make_train(trained))(key)
        return state.params

    @jax.jit
    def fit_value(key, params):
        """Regresses V_φ on Monte-Carlo returns of the frozen policy (minibatches of valid
        steps from `value_episodes` fresh episodes); returns the params with that critic."""
        episode_key, key = jax.random.split(key)
        _, trajectory, mask = collect_episodes(value_env, network, params, episode_key, horizon)
        returns = reinforce.episode_returns(trajectory, gamma, bootstrap=False)
        obs = trajectory.obs.reshape(-1, *spec.observation_shape)
        returns, weights = returns.reshape(-1), mask.reshape(-1).astype(jnp.float32)
        optimizer = optax.adam(3e-3)

        def loss_fn(critic, index):
            loss = pgjax.value_loss(value(critic, obs[index]), returns[index])
            return loss, {"loss": loss}

        def step(carry, step_key):
            index = jax.random.choice(step_key, weights.size, (512,), p=weights / weights.sum())
            critic, opt_state, metrics = gradient_step(loss_fn, optimizer, *carry, index)
            return (critic, opt_state), metrics["loss"]

        critic = params["params"]["critic"]
        (critic, _), losses = jax.lax.scan(
            step, (critic, optimizer.init(critic)), jax.random.split(key, settings.value_steps)
        )
        return {"params": {**params["params"], "critic": critic}}, losses[-20:].mean()

    def batch_gradients(key, params):
        """`[E, P]`: one flattened gradient estimate per estimator, from one batch."""
        _, trajectory, mask = collect_episodes(env, network, params, key, horizon)
        returns = reinforce.episode_returns(trajectory, gamma, bootstrap=False)
        advantages = [
            returns - reinforce.baseline_values(kind, returns, trajectory.value, mask)
            for kind in BASELINES
        ]
        advantages += [trajectory_gae(trajectory, gamma, lam)[0] for lam in GAE_LAMBDAS]

        def objective(actor, advantage):  # (1/N) Σ log π · Â: ascent direction
            log_probs = policy(actor, trajectory.obs).log_prob(trajectory.action)
            loss = pgjax.policy_gradient_loss(log_probs, advantage, mask, reduction="sum")
            return -loss / settings.episodes_per_batch

        grads = jax.vmap(jax.grad(objective), in_axes=(None, 0))(
            params["params"]["actor"], jnp.stack(advantages)
        )
        return jax.vmap(lambda g: ravel_pytree(g)[0])(grads), mask.sum(0).mean()

    @jax.jit
    def all_gradients(key, params):
        keys = jax.random.split(key, settings.num_batches)
        return jax.lax.map(lambda k: batch_gradients(k, params), keys, batch_size=settings.chunk)

    return snapshot, fit_value, all_gradients


def u_statistic_and_jackknife(d: np.ndarray) -> tuple[float, float]:
    """Unbiased estimate of ‖E d‖² from rows d_i, (1/(M(M−1))) Σ_{i≠j} d_iᵀd_j, and its
    jackknife standard error."""
    m = d.shape[0]
    gram = d @ d.T
    diag, row = np.diag(gram), gram.sum(1)
    total, trace = gram.sum(), diag.sum()
    u = (total - trace) / (m * (m - 1))
    leave_out = (total - 2 * row + diag - (trace - diag)) / ((m - 1) * (m - 2))
    se = np.sqrt((m - 1) / m * np.sum(np.square(leave_out - leave_out.mean())))
    return float(u), float(se)


def total_variance(gram: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """tr Cov of the rows behind `gram` (= G Gᵀ), for each row of resampling `weights` [B, M]
    (counts summing to M)."""
    m = gram.shape[0]
    mean_sq = np.einsum("bi,ij,bj->b", weights, gram, weights) / m**2
    return (weights @ np.diag(gram) / m - mean_sq) * m / (m - 1)


def statistics(grads: np.ndarray, rng: np.random.Generator, samples: int) -> dict:
    """Per-estimator statistics from `[M, E, P]` gradient estimates."""
    m = grads.shape[0]
    weights = rng.multinomial(m, np.full(m, 1.0 / m), size=samples).astype(np.float64)
    ones = np.ones((1, m))
    none = grads[:, 0]
    none_mean_norm = np.linalg.norm(none.mean(0))
    none_var = total_variance(none @ none.T, np.vstack([ones, weights]))
    rows = {}
    for e, name in enumerate(ESTIMATORS):
        g = grads[:, e]
        u, se = u_statistic_and_jackknife(g - none)
        var = total_variance(g @ g.T, np.vstack([ones, weights]))
        ratio = var / none_var
        rows[name] = {
            "mean_norm": float(np.linalg.norm(g.mean(0))),
            "distance": float(np.linalg.norm(g.mean(0) - none.mean(0))),
            "bias_sq": u,
            "bias_sq_se": se,
            "bias": float(np.sqrt(max(u, 0.0)) / none_mean_norm),
            "bias_low": float(np.sqrt(max(u - 1.96 * se, 0.0)) / none_mean_norm),
            "bias_high": float(np.sqrt(max(u + 1.96 * se, 0.0)) / none_mean_norm),
            "cosine": float(
                g.mean(0) @ none.mean(0) / (np.linalg.norm(g.mean(0)) * none_mean_norm)
            ),
            "total_variance": float(var[0]),
            "variance_ratio": float(ratio[0]),
            "variance_ratio_ci": [float(np.quantile(ratio[1:], q)) for q in (0.025, 0.975)],
        }
    return rows


def table(results: dict) -> str:
    headers = [
        "snapshot",
        "estimator",
        "‖mean ĝ‖",
        "cos(mean ĝ, mean ĝ_none)",
        "relative bias ‖E ĝ − E ĝ_none‖ / ‖E ĝ_none‖ [95% CI]",
        "bias detected",
        "tr Cov ĝ / tr Cov ĝ_none (95% CI)",
    ]
    rows = []
    for snap, record in results.items():
        for name, s in record["estimators"].items():
            low, high = s["variance_ratio_ci"]
            rows.append(
                [
                    f"{snap} (return {record['return']:.0f})",
                    LABELS[name],
                    f"{s['mean_norm']:.3g}",
                    f"{s['cosine']:.3f}",
                    "—"
                    if name == "none"
                    else f"{s['bias']:.3f} [{s['bias_low']:.3f}, {s['bias_high']:.3f}]",
                    "—" if name == "none" else ("yes" if s["bias_low"] > 0 else "no"),
                    f"{s['variance_ratio']:.3f} ({low:.3f}–{high:.3f})",
                ]
            )
    return markdown_table(headers, rows, align="llrrlcl")


def plot(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_var, ax_bias) = plt.subplots(1, 2, figsize=(11, 4), dpi=120)
    x = np.arange(len(ESTIMATORS))
    width = 0.8 / len(results)
    for k, (snap, record) in enumerate(results.items()):
        stats = [record["estimators"][name] for name in ESTIMATORS]
        ratio = np.array([s["variance_ratio"] for s in stats])
        ci = np.array([s["variance_ratio_ci"] for s in stats]).T
        offset = (k - (len(results) - 1) / 2) * width
        label = f"{snap} (return {record['return']:.0f})"
        ax_var.bar(x + offset, ratio, width, yerr=np.abs(ci - ratio), label=label, capsize=2)
        bias = np.array([s["bias"] for s in stats])
        bounds = np.array([[s["bias_low"], s["bias_high"]] for s in stats]).T
        ax_bias.errorbar(
            x + offset, bias, yerr=np.abs(bounds - bias), fmt="o", capsize=3, label=label
        )
    for ax in (ax_var, ax_bias):
        ax.set_xticks(x, [LABELS[name] for name in ESTIMATORS], rotation=25, ha="right")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    ax_var.set_yscale("log")
    ax_var.set_ylabel("total variance relative to no baseline")
    ax_var.set_title("Variance of the gradient estimate")
    ax_bias.axhline(0.0, color="black", lw=0.8)
    ax_bias.set_ylabel("‖E ĝ − E ĝ_none‖ / ‖E ĝ_none‖ (95% CI)")
    ax_bias.set_title("Bias relative to no baseline")
    fig.suptitle(f"REINFORCE gradient estimators on {ENV_ID}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    settings = SMOKE if smoke else QUICK if quick else Settings()
    out_dir = Path(out_dir or Path(__file__).resolve().parent / "out")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    snapshot, fit_value, all_gradients = make_experiment(settings)
    rng = np.random.default_rng(0)
    key = jax.random.key(0)
    results = {}
    for snap, updates in (("random init", 0), ("partly trained", settings.train_updates)):
        init_key, value_key, batch_key = jax.random.split(jax.random.fold_in(key, updates), 3)
        params, value_loss = fit_value(value_key, snapshot(init_key, updates))
        grads, lengths = all_gradients(batch_key, params)
        grads = np.asarray(grads, np.float64)
        results[snap] = {
            "train_updates": updates,
            "return": float(np.asarray(lengths).mean()),  # CartPole: return = length
            "value_loss": float(value_loss),
            "estimators": statistics(grads, rng, settings.bootstrap_samples),
        }
    seconds = time.perf_counter() - start
    text = table(results)
    png = plot(results, out_dir / "baseline_variance.png")
    (out_dir / "baseline_variance.md").write_text(text + "\n")
    notes = (
        f"{settings.num_batches} batches of {settings.episodes_per_batch} complete episodes per "
        f"snapshot; gradients w.r.t. the actor's parameters; V fitted on "
        f"{settings.value_episodes} episodes of the frozen policy; {seconds:.0f} s in all. "
        "Method and statistics: the docstring of benchmarks/baseline_variance.py."
    )
    value_ratio = results["partly trained"]["estimators"]["value"]["variance_ratio"]
    headline = (
        f"A learned baseline V(s) cuts the variance of the REINFORCE gradient on CartPole-v1 "
        f"to {value_ratio:.0%} of no baseline's (partly trained policy) without detectable bias."
    )
    return result(
        NAME,
        text,
        {"settings": dataclasses.asdict(settings), "results": results, "seconds": seconds},
        title="Baselines: unbiased, lower variance (REINFORCE on CartPole-v1)",
        notes=notes,
        headline=headline,
        files=[png],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (benchmarks/out)")
    parser.add_argument("--quick", action="store_true", help="fewer batches")
    args = parser.parse_args(argv)
    output = run(quick=args.quick, out_dir=args.out)
    print(output["table"])
    print()
    print(output["notes"])
    print(f"wrote {output['files'][0]} and baseline_variance.md")


if __name__ == "__main__":
    main()
