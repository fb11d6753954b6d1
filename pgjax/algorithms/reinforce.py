"""REINFORCE (Williams, 1992, "Simple statistical gradient-following algorithms for
connectionist reinforcement learning"), with a choice of baselines.

    for each update:
        reset N environments, act H steps with π_θ             (one whole episode each, masked)
        G_t ← discounted return of the rest of the episode      (returns)
        b_t ← none | batch mean | leave-one-out | V_φ(s_t)      (baseline)
        L = −Σ_t m_t log π_θ(a_t|s_t)(G_t − b_t) / (N·H)
            + c_v · value loss(V_φ, G) + c_H · entropy loss     (masked to the episodes)
        θ, φ ← Adam(∇L)                                         (update)

Episodes are complete and collected on the device: every update resets the environments and
runs a fixed buffer of H ≥ time-limit steps (`pgjax.rollout.collect_episodes`), counting each
environment's first episode only, so they are independent draws from π_θ.

Time limits: with the learned baseline (`baseline="value"`) a truncated episode's return is
bootstrapped with V_φ(final observation), estimating the infinite-horizon discounted return
the critic learns. Without it nothing is bootstrapped: G_t is the Monte-Carlo return of the
time-limited episode, exactly the objective of the time-limited task (whose state lacks the
time left, so that objective is not quite Markov; CartPole's 500-step cap makes the
difference small).

Baselines at step t (Greensmith et al., 2004; Kool et al., 2019): `"batch_mean"`, the mean
of G_t over the batch's episodes still running at t (includes the episode itself: biased by
O(1/N)); `"leave_one_out"`, the same mean over the *other* episodes (unbiased); `"value"`,
a learned V_φ(s_t) regressed on G_t. V_φ is only fitted for `"value"`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import pgjax
from pgjax.algorithms.configs import BASELINES, REINFORCEConfig  # noqa: F401  (re-exported)
from pgjax.training import on_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.optimizers import gradient_step, steps_taken
from pgjax.training.rollout import collect_episodes, episode_metrics
from pgjax.training.types import OnPolicyState, PolicyGradientBatch


def baseline_values(kind: str, returns: jax.Array, values: jax.Array, mask: jax.Array):
    """b_t for returns `[T, N]` of N episodes (`mask`: their steps), as listed in the module
    docstring; batch means are over the episodes at the same step t."""
    if kind == "value":
        return values
    if kind == "batch_mean":
        return jax.vmap(pgjax.batch_mean_baseline)(returns, mask)
    if kind == "leave_one_out":
        return pgjax.leave_one_out_baseline(returns, mask, axis=1)
    return jnp.zeros_like(returns)


def episode_returns(trajectory, gamma, bootstrap: bool) -> jax.Array:
    """G_t within each episode; a truncated one bootstrapped with V(final obs) if `bootstrap`."""
    return pgjax.discounted_returns(
        trajectory.reward,
        trajectory.terminated,
        trajectory.truncated,
        gamma,
        next_values=trajectory.next_value if bootstrap else None,
    )


def update(config: REINFORCEConfig, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One REINFORCE update: whole episodes, their returns and baseline, one gradient step."""
    hp = state.hyperparams
    run = on_policy.setup(config, hp)
    learned = config.baseline == "value"
    episode_key, key = jax.random.split(state.key)
    env, trajectory, mask = collect_episodes(
        run.env,
        run.network,
        state.params,
        episode_key,
        config.num_steps,
        on_policy.policy_initial_carry(config, config.num_envs),
    )
    returns = episode_returns(trajectory, hp["gamma"], bootstrap=learned)
    baseline = baseline_values(config.baseline, returns, trajectory.value, mask)
    batch = PolicyGradientBatch(
        trajectory.obs,
        trajectory.action,
        returns - baseline,
        returns,
        mask,
        trajectory.carry,
        trajectory.episode_done if config.recurrent else None,
        trajectory.action_mask,
    )

    def loss(params, batch):
        value_coef = hp["value_coef"] if learned else None
        return on_policy.actor_critic_loss(
            run.network, params, batch, value_coef, hp["entropy_coef"]
        )

    params, opt_state, loss_metrics = gradient_step(
        loss, run.optimizer, state.params, state.opt_state, batch
    )
    metrics = {
        **episode_metrics(trajectory, mask),
        **loss_metrics,
        "learning_rate": run.schedule(steps_taken(state.opt_state)),
    }
    return OnPolicyState(params, opt_state, env, key, hp), metrics


REINFORCE = Algorithm(
    "reinforce",
    REINFORCEConfig,
    on_policy.init,
    update,
    on_policy.act,
    data_parallel=True,
    action_masks=True,
    initial_carry=on_policy.fresh_carry,
    act_carried=on_policy.act_carried,
)
make_train = REINFORCE.make_train
