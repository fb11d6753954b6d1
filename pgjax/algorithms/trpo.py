"""Trust region policy optimisation (Schulman et al., 2015, https://arxiv.org/abs/1502.05477),
with GAE advantages (Schulman et al., 2016) and a separately regressed value function.

    for each update:
        collect T steps in N environments with π_old               (rollout)
        Â, V̂ ← GAE(r, V_old, V_old(s'), terminated, truncated)     (advantages)
        θ ← argmax_θ E[π_θ(a|s)/π_old(a|s) · Â]                    (natural-gradient step:
            s.t. mean KL(π_old ‖ π_θ) ≤ δ                            Fisher-vector products,
                                                                    CG, KL-scaled step,
                                                                    backtracking line search)
        for each epoch, for each shuffled minibatch:
            φ ← Adam(φ, ∇ value loss(V_φ, V̂))                      (critic regression)

The actor and the critic are the separate `"actor"` and `"critic"` subtrees of one ActorCritic
parameter tree (so evaluation and checkpoints work as for PPO): `pgjax.natural_gradient_step`
moves the actor subtree only, Adam the critic subtree only. The step, the conjugate gradient
and the line search all run inside the jitted loop; the logged `kl` is the mean KL of the
accepted step (≤ δ by construction), `accepted` whether the line search found one. The
Fisher-vector products use every `fisher_subsample`-th step of the rollout (the line search
checks the KL on all of them).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax

import pgjax
from pgjax.config import OnPolicyConfig
from pgjax.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training import (
    ProgressFn,
    TrainState,
    gradient_step,
    init_train_state,
    learning_rate_schedule,
    make_network,
    make_optimizer,
    run_epochs,
    run_updates,
)


@dataclasses.dataclass(frozen=True)
class TRPOConfig(OnPolicyConfig):
    """TRPO settings. `learning_rate` and `max_grad_norm` are the critic's (Adam); the actor's
    step size is set by `max_kl`, δ."""

    num_envs: int = 8
    num_steps: int = 256
    learning_rate: float = 1e-3
    anneal_learning_rate: bool = False
    max_grad_norm: float = 1.0
    gae_lambda: float = 0.97
    max_kl: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 0.1
    fisher_subsample: int = 5  # Fisher-vector products on every k-th step (as OpenAI Baselines)
    backtrack_coef: float = 0.8
    max_backtracks: int = 10
    value_epochs: int = 5
    value_minibatches: int = 4
    normalize_advantages: bool = True

    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = (
        *OnPolicyConfig.HYPERPARAMETERS,
        "gae_lambda",
        "max_kl",
        "cg_damping",
        "backtrack_coef",
    )
    POSITIVE: ClassVar[tuple[str, ...]] = ("learning_rate", "max_grad_norm", "max_kl")
    UNIT_INTERVAL: ClassVar[tuple[str, ...]] = ("gamma", "gae_lambda")
    PRESETS: ClassVar[dict[str, dict]] = {
        "CartPole-v1": {"total_steps": 200_000, "max_kl": 0.02},
        "Pendulum-v1": {
            "total_steps": 500_000,
            "num_envs": 16,
            "num_steps": 128,
            "gamma": 0.9,
            "gae_lambda": 0.95,
            "value_epochs": 10,
            "normalize_observations": True,
            "scale_rewards": True,
        },
    }

    def validate(self) -> None:
        super().validate()
        if self.shared_network:
            raise ValueError(
                "TRPO steps the actor by natural gradient and regresses the critic separately: "
                "set shared_network to false."
            )
        for name in (
            "cg_iterations",
            "fisher_subsample",
            "max_backtracks",
            "value_epochs",
            "value_minibatches",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.steps_per_update % self.value_minibatches:
            raise ValueError(
                f"The batch of num_envs × num_steps = {self.steps_per_update} transitions does "
                f"not split into value_minibatches={self.value_minibatches} equal minibatches."
            )
        if self.cg_damping < 0 or not 0 < self.backtrack_coef < 1:
            raise ValueError("cg_damping must be >= 0 and backtrack_coef in (0, 1).")


Config = TRPOConfig


class CriticBatch(NamedTuple):
    obs: jax.Array
    targets: jax.Array


def make_train(config: TRPOConfig, progress: ProgressFn | None = None):
    """Returns `train(key, hyperparams=None) -> (TrainState, metrics)`.

    `metrics` holds `[num_updates]` arrays: episode_return / episode_length / episodes as in
    PPO, policy_loss (the surrogate loss after the step), value_loss, entropy, learning_rate
    (the critic's), and the natural-gradient step's kl, improvement, step_fraction, accepted.
    `TrainState.opt_state` is the critic's Adam state.
    """
    config.validate()
    network, _ = make_network(config)
    num_critic_steps = config.num_updates * config.value_epochs * config.value_minibatches

    def policy(actor, obs):
        return network.apply({"params": {"actor": actor}}, obs, method="policy")

    def value(critic, obs):
        return network.apply({"params": {"critic": critic}}, obs, method="value")

    def critic_loss(critic, batch: CriticBatch):
        loss = pgjax.value_loss(value(critic, batch.obs), batch.targets)
        return loss, {"value_loss": loss}

    def train(key: jax.Array, hyperparams: dict | None = None):
        hp = config.resolve(hyperparams)
        schedule = learning_rate_schedule(
            hp["learning_rate"], num_critic_steps, config.anneal_learning_rate
        )
        optimizer = make_optimizer(schedule, hp["max_grad_norm"])
        env, state = init_train_state(
            config, network, key, hp["gamma"], lambda p: optimizer.init(p["params"]["critic"])
        )

        def critic_step(carry, batch: CriticBatch):
            critic, opt_state, metrics = gradient_step(critic_loss, optimizer, *carry, batch)
            return (critic, opt_state), metrics

        def update_step(state: TrainState, update):
            rollout_key, critic_key, key = jax.random.split(state.key, 3)
            env_carry, trajectory = collect_rollout(
                env, network, state.params, state.env, rollout_key, config.num_steps
            )
            advantages, targets = trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
            if config.normalize_advantages:
                advantages = pgjax.normalize_advantages(advantages)
            actor, critic = state.params["params"]["actor"], state.params["params"]["critic"]

            def surrogate(new_actor):
                log_probs = policy(new_actor, trajectory.obs).log_prob(trajectory.action)
                return -pgjax.surrogate_loss(log_probs, trajectory.log_prob, advantages)

            def mean_kl(obs):  # new actor ↦ mean KL(π_old ‖ π_new) over the states `obs`
                old_policy = jax.lax.stop_gradient(policy(actor, obs))
                return lambda new_actor: old_policy.kl(policy(new_actor, obs)).mean()

            actor, step = pgjax.natural_gradient_step(
                actor,
                surrogate,
                mean_kl(trajectory.obs),
                hp["max_kl"],
                fisher_kl_fn=mean_kl(trajectory.obs[:: config.fisher_subsample]),
                cg_iterations=config.cg_iterations,
                cg_damping=hp["cg_damping"],
                backtrack_coef=hp["backtrack_coef"],
                max_backtracks=config.max_backtracks,
            )
            (critic, opt_state), critic_metrics = run_epochs(
                critic_key,
                (critic, state.opt_state),
                CriticBatch(trajectory.obs, targets),
                config.value_epochs,
                config.value_minibatches,
                critic_step,
            )
            new_policy = policy(actor, trajectory.obs)
            metrics = {
                **episode_metrics(trajectory),
                **critic_metrics,
                "policy_loss": pgjax.surrogate_loss(
                    new_policy.log_prob(trajectory.action), trajectory.log_prob, advantages
                ),
                "entropy": new_policy.entropy().mean(),
                "learning_rate": schedule(update * config.value_epochs * config.value_minibatches),
                **step._asdict(),
            }
            params = {"params": {"actor": actor, "critic": critic}}
            return TrainState(params, opt_state, env_carry, key), metrics

        return run_updates(update_step, state, config.num_updates, progress)

    return train
