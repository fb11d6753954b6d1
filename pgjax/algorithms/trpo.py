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

from typing import NamedTuple

import jax

import pgjax
from pgjax.algorithms.configs import TRPOConfig
from pgjax.training import on_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.networks import with_action_mask
from pgjax.training.optimizers import gradient_step, run_epochs, steps_taken
from pgjax.training.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training.types import OnPolicyState


class CriticBatch(NamedTuple):
    """What the critic regresses on: observations and value targets, `[T, N, ...]`."""

    obs: jax.Array
    targets: jax.Array


def init(config: TRPOConfig, key: jax.Array, hyperparams: dict | None = None) -> OnPolicyState:
    """As every on-policy algorithm, but Adam optimises the critic subtree only."""
    return on_policy.init(config, key, hyperparams, lambda params: params["params"]["critic"])


def update(config: TRPOConfig, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One TRPO update: a rollout, GAE, the natural-gradient actor step, the critic epochs."""
    hp = state.hyperparams
    run = on_policy.setup(config, hp)

    def policy(actor, obs, mask):
        distribution = run.network.apply({"params": {"actor": actor}}, obs, method="policy")
        return with_action_mask(distribution, mask, "trpo.update")

    def critic_loss(critic, batch: CriticBatch):
        values = run.network.apply({"params": {"critic": critic}}, batch.obs, method="value")
        loss = pgjax.value_loss(values, batch.targets)
        return loss, {"value_loss": loss}

    rollout_key, critic_key, key = jax.random.split(state.key, 3)
    env, trajectory = collect_rollout(
        run.env, run.network, state.params, state.env, rollout_key, config.num_steps
    )
    advantages, targets = trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
    if config.normalize_advantages:
        advantages = pgjax.normalize_advantages(advantages)
    actor, critic = state.params["params"]["actor"], state.params["params"]["critic"]
    mask = trajectory.action_mask

    def surrogate(new_actor):
        log_probs = policy(new_actor, trajectory.obs, mask).log_prob(trajectory.action)
        return -pgjax.surrogate_loss(log_probs, trajectory.log_prob, advantages)

    def mean_kl(obs, mask):  # new actor ↦ mean KL(π_old ‖ π_new) over the states `obs`
        old_policy = jax.lax.stop_gradient(policy(actor, obs, mask))
        return lambda new_actor: old_policy.kl(policy(new_actor, obs, mask)).mean()

    actor, step = pgjax.natural_gradient_step(
        actor,
        surrogate,
        mean_kl(trajectory.obs, mask),
        hp["max_kl"],
        fisher_kl_fn=mean_kl(
            *jax.tree.map(lambda x: x[:: config.fisher_subsample], (trajectory.obs, mask))
        ),
        cg_iterations=config.cg_iterations,
        cg_damping=hp["cg_damping"],
        backtrack_coef=hp["backtrack_coef"],
        max_backtracks=config.max_backtracks,
    )

    def critic_step(carry, batch: CriticBatch):
        critic, opt_state, metrics = gradient_step(critic_loss, run.optimizer, *carry, batch)
        return (critic, opt_state), metrics

    (critic, opt_state), critic_metrics = run_epochs(
        critic_key,
        (critic, state.opt_state),
        CriticBatch(trajectory.obs, targets),
        config.value_epochs,
        config.value_minibatches,
        critic_step,
    )
    new_policy = policy(actor, trajectory.obs, mask)
    policy_loss = pgjax.surrogate_loss(
        new_policy.log_prob(trajectory.action), trajectory.log_prob, advantages
    )
    metrics = {
        **episode_metrics(trajectory),
        **critic_metrics,
        "policy_loss": policy_loss,
        "entropy": new_policy.entropy().mean(),
        "learning_rate": run.schedule(steps_taken(state.opt_state)),
        **step._asdict(),
    }
    params = {"params": {"actor": actor, "critic": critic}}
    return OnPolicyState(params, opt_state, env, key, hp), metrics


TRPO = Algorithm(
    "trpo",
    TRPOConfig,
    init,
    update,
    on_policy.act,
    data_parallel=True,
    action_masks=True,
)
make_train = TRPO.make_train
