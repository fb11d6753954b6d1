"""Synchronous advantage actor-critic, A2C (Mnih et al., 2016, "Asynchronous methods for deep
reinforcement learning", https://arxiv.org/abs/1602.01783, made synchronous as in OpenAI
Baselines).

    for each update:
        collect T steps in N environments with π_θ                  (rollout)
        Â, V̂ ← n-step returns − V(s)   or   GAE(λ)                  (advantages)
        L = policy-gradient loss(Â) + c_v · value loss(V, V̂) + c_H · entropy loss
        θ ← RMSprop or Adam(θ, ∇L)                                   (one step per rollout)

n-step targets are cut at episode ends; at a time limit and at the end of the rollout they
bootstrap from V of the true successor (`next_value`), never from a reset state. With
`n_step >= num_steps` every step bootstraps from the end of the rollout, the original A3C
update. The actor and critic share a torso with `shared_network=True`.
"""

from __future__ import annotations

import jax

import pgjax
from pgjax.algorithms.configs import A2CConfig
from pgjax.training import on_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.optimizers import gradient_step, steps_taken
from pgjax.training.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training.types import OnPolicyState, PolicyGradientBatch


def advantages_and_targets(config: A2CConfig, hp, trajectory):
    """(Â, V̂), each `[T, N]`: GAE(λ), or n-step returns minus V(s)."""
    if config.advantage_estimator == "gae":
        return trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
    targets = pgjax.n_step_returns(
        trajectory.reward,
        trajectory.next_value,
        trajectory.terminated,
        trajectory.truncated,
        hp["gamma"],
        config.n_step,
    )
    return targets - trajectory.value, targets


def update(config: A2CConfig, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One A2C update: a rollout, its n-step or GAE advantages, one gradient step."""
    hp = state.hyperparams
    run = on_policy.setup(config, hp)
    rollout_key, key = jax.random.split(state.key)
    env, trajectory = collect_rollout(
        run.env, run.network, state.params, state.env, rollout_key, config.num_steps
    )
    advantages, targets = advantages_and_targets(config, hp, trajectory)
    if config.normalize_advantages:
        advantages = pgjax.normalize_advantages(advantages)
    batch = PolicyGradientBatch(
        trajectory.obs,
        trajectory.action,
        advantages,
        targets,
        None,
        trajectory.carry,
        trajectory.episode_done if config.recurrent else None,
        trajectory.action_mask,
    )

    def loss(params, batch):
        return on_policy.actor_critic_loss(
            run.network, params, batch, hp["value_coef"], hp["entropy_coef"]
        )

    params, opt_state, loss_metrics = gradient_step(
        loss, run.optimizer, state.params, state.opt_state, batch
    )
    metrics = {
        **episode_metrics(trajectory),
        **loss_metrics,
        "learning_rate": run.schedule(steps_taken(state.opt_state)),
    }
    return OnPolicyState(params, opt_state, env, key, hp), metrics


A2C = Algorithm(
    "a2c",
    A2CConfig,
    on_policy.init,
    update,
    on_policy.act,
    data_parallel=True,
    action_masks=True,
    initial_carry=on_policy.fresh_carry,
    act_carried=on_policy.act_carried,
)
make_train = A2C.make_train
