"""Proximal policy optimisation (Schulman et al., 2017, https://arxiv.org/abs/1707.06347).

    for each update:
        collect T steps in N environments with π_old             (rollout)
        Â, V̂ ← GAE(r, V_old, V_old(s'), terminated, truncated)   (advantages)
        for each epoch, for each shuffled minibatch (of environments, for a recurrent policy):
            L = clipped surrogate(π_θ/π_old, Â) + c_v · value loss + c_H · entropy loss
            θ ← Adam(θ, ∇L)                                        (update)

With `normalize_advantages` the advantages are standardised per minibatch; with `clip_value`
the value loss is clipped around the old values by the same ε as the ratio.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

import pgjax
from pgjax.algorithms.configs import PPOConfig
from pgjax.training import on_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.optimizers import gradient_step, run_epochs, steps_taken
from pgjax.training.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training.types import OnPolicyState


class Batch(NamedTuple):
    """One rollout prepared for the PPO epochs, every field `[T, N, ...]`."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # log π_old(a|s)
    value: jax.Array  # V_old(s), for value clipping
    advantages: jax.Array
    targets: jax.Array
    carry: Any = None  # a recurrent policy's stored states (minibatches: whole environments)
    episode_done: jax.Array | None = None  # where that state resets (recurrent only)
    action_mask: jax.Array | None = None  # [T, N, A] the valid actions (masked envs only)


def loss(config: PPOConfig, network, hp, params, batch: Batch):
    """The clipped surrogate, the (clipped) value loss and the entropy bonus on a minibatch."""
    distribution, values = on_policy.apply_policy(
        network, params, batch.obs, batch.carry, batch.episode_done, batch.action_mask
    )
    log_probs = distribution.log_prob(batch.action)
    advantages = batch.advantages
    if config.normalize_advantages:
        advantages = pgjax.normalize_advantages(advantages)
    policy_loss = pgjax.ppo_clip_loss(
        log_probs, batch.log_prob, advantages, clip_eps=hp["clip_eps"]
    )
    value_loss = pgjax.value_loss(
        values,
        batch.targets,
        old_values=batch.value if config.clip_value else None,
        clip_eps=hp["clip_eps"] if config.clip_value else None,
    )
    entropy = distribution.entropy()
    total = (
        policy_loss
        + hp["value_coef"] * value_loss
        + hp["entropy_coef"] * pgjax.entropy_loss(entropy)
    )
    return total, {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy.mean(),
        "approx_kl": pgjax.approx_kl(log_probs, batch.log_prob),
        "clip_fraction": pgjax.clip_fraction(log_probs, batch.log_prob, clip_eps=hp["clip_eps"]),
    }


def update(config: PPOConfig, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One PPO update: a rollout, GAE, then the clipped-surrogate epochs over minibatches."""
    hp = state.hyperparams
    run = on_policy.setup(config, hp)
    rollout_key, epoch_key, key = jax.random.split(state.key, 3)
    env, trajectory = collect_rollout(
        run.env, run.network, state.params, state.env, rollout_key, config.num_steps
    )
    advantages, targets = trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
    batch = Batch(
        trajectory.obs,
        trajectory.action,
        trajectory.log_prob,
        trajectory.value,
        advantages,
        targets,
        trajectory.carry,
        trajectory.episode_done if config.recurrent else None,
        trajectory.action_mask,
    )

    def minibatch_step(carry, minibatch):
        params, opt_state, metrics = gradient_step(
            lambda p, b: loss(config, run.network, hp, p, b), run.optimizer, *carry, minibatch
        )
        return (params, opt_state), metrics

    (params, opt_state), loss_metrics = run_epochs(
        epoch_key,
        (state.params, state.opt_state),
        batch,
        config.num_epochs,
        config.num_minibatches,
        minibatch_step,
        by_env=config.recurrent,
    )
    metrics = {
        **episode_metrics(trajectory),
        **loss_metrics,
        "learning_rate": run.schedule(steps_taken(state.opt_state)),
    }
    return OnPolicyState(params, opt_state, env, key, hp), metrics


PPO = Algorithm(
    "ppo",
    PPOConfig,
    on_policy.init,
    update,
    on_policy.act,
    data_parallel=True,
    action_masks=True,
    initial_carry=on_policy.fresh_carry,
    act_carried=on_policy.act_carried,
)
make_train = PPO.make_train
