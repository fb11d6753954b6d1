"""Vanilla policy gradient with a learned baseline: one Adam step per rollout on
−log π(a|s)·Â + c_v·½(V(s) − V̂)², Â and V̂ from GAE."""

import dataclasses

import jax

import pgjax
from pgjax.training import on_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import OnPolicyConfig, hyperparameter, static
from pgjax.training.optimizers import gradient_step
from pgjax.training.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training.types import OnPolicyState, PolicyGradientBatch


@dataclasses.dataclass(frozen=True)
class VPGConfig(OnPolicyConfig):
    """Vanilla policy gradient: 8 environments × 32 steps per update."""

    num_envs: int = static(8, "environments stepped in parallel per seed", at_least=1)
    num_steps: int = static(32, "rollout length per environment per update", at_least=1)
    learning_rate: float = hyperparameter(3e-3, "learning rate", above=0)
    gae_lambda: float = hyperparameter(0.95, "GAE λ", at_least=0, at_most=1)
    value_coef: float = hyperparameter(0.5, "value loss coefficient", at_least=0)


def update(config: VPGConfig, state: OnPolicyState):
    hp = state.hyperparams
    run = on_policy.setup(config, hp)
    rollout_key, key = jax.random.split(state.key)
    env, trajectory = collect_rollout(
        run.env, run.network, state.params, state.env, rollout_key, config.num_steps
    )
    advantages, targets = trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
    batch = PolicyGradientBatch(
        trajectory.obs, trajectory.action, pgjax.normalize_advantages(advantages), targets, None
    )

    def loss(params, batch):
        return on_policy.actor_critic_loss(run.network, params, batch, hp["value_coef"], 0.0)

    params, opt_state, metrics = gradient_step(
        loss, run.optimizer, state.params, state.opt_state, batch
    )
    state = OnPolicyState(params, opt_state, env, key, hp)
    return state, {**episode_metrics(trajectory), **metrics}


VPG = Algorithm("vpg", VPGConfig, on_policy.init, update, on_policy.act, "vanilla policy gradient")
