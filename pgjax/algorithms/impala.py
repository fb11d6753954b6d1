"""IMPALA: actors acting with a lagging policy μ, a learner correcting for it with V-trace
(Espeholt et al., 2018, "IMPALA: Scalable distributed deep-RL with importance weighted
actor-learner architectures", https://arxiv.org/abs/1802.01561), in a deterministic form.

    for each update k:
        actors:  collect T steps in N environments with μ = π_{θ_{k−L}},            (rollout)
                 storing log μ(a|s) with the rollout
        learner: V, log π ← the network θ_k on the rollout
                 Â, v ← V-trace(r, V, V(s'), log π − log μ; λ, ρ̄, c̄, ρ̄^pg)       (targets)
                 ℒ = −log π(a|s) · Â + c_v · ½ (V(s) − v)² − c_H · H(π(·|s))
                 θ_{k+1} ← RMSprop or Adam(θ_k, ∇ℒ)                             (one step)
        the actors' parameters move on: (θ_{k−L+1}, …, θ_k)

The lag L (`policy_lag`) is static, and the state carries the actors' L parameter sets (a
ring, oldest first), so a run is deterministic, vmappable over seeds and resumable like every
other algorithm; its first L updates act with θ_0. With L = 0 every ratio is 1 and this is
on-policy A2C with λ-returns as value targets and GAE(λ) advantages. `correction` says what the
learner does about the lag: "vtrace" (IMPALA), "none" (the rollout treated as on-policy: GAE(λ)
as if μ were π), or "ppo_clip" (PPO's clipped ratio π/μ on those uncorrected advantages);
`benchmarks/policy_lag.py` compares them.

The asynchronous form, the actor-learner engine of `pgjax.runs` (`pgjax train impala
--async`), runs the same `collect` in actor threads on one device and the same `learn` in the
learner on another, where the lag is whatever the queue between them makes it (`policy_lag`
does not apply there).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import pgjax
from pgjax.algorithms.configs import IMPALAConfig
from pgjax.training import on_policy
from pgjax.training.algorithm import ActorLearner, Algorithm
from pgjax.training.networks import with_action_mask
from pgjax.training.optimizers import gradient_step, steps_taken
from pgjax.training.recurrent import run_sequence, successor_values
from pgjax.training.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training.types import EnvCarry, Hyperparams, Params, Transition


class IMPALAState(NamedTuple):
    """The on-policy state and the actors' lagged parameters."""

    params: Params  # θ_k, the learner's
    opt_state: Any
    env: EnvCarry
    key: jax.Array
    hyperparams: Hyperparams
    actor_params: Params | None  # [L, ...]: θ_{k−L}, …, θ_{k−1}; None when L = 0


class Batch(NamedTuple):
    """One rollout prepared for the learner's step, every field `[T, N, ...]`."""

    obs: jax.Array
    action: jax.Array
    behaviour_log_prob: jax.Array  # log μ(a|s), stored by the actors
    advantages: jax.Array  # Â, constants
    targets: jax.Array  # v, constants
    carry: Any = None  # a recurrent policy's stored states (`Transition.carry`)
    episode_done: jax.Array | None = None  # where that state resets (recurrent only)
    action_mask: jax.Array | None = None  # [T, N, A] the valid actions (masked envs only)


def init(config: IMPALAConfig, key: jax.Array, hyperparams: dict | None = None) -> IMPALAState:
    """As every on-policy algorithm, plus the ring of the actors' L lagging parameter sets."""
    state = on_policy.init(config, key, hyperparams)
    lagged = None
    if config.policy_lag:
        lagged = jax.tree.map(lambda p: jnp.stack([p] * config.policy_lag), state.params)
    return IMPALAState(*state, lagged)


def reset(config: IMPALAConfig, hp: Hyperparams, key: jax.Array) -> EnvCarry:
    """An actor's own freshly reset environments (the asynchronous runtime's actors)."""
    obs, env_state = on_policy.setup(config, hp).env.reset(key)
    return EnvCarry(env_state, obs, on_policy.policy_initial_carry(config, config.num_envs))


def collect(config: IMPALAConfig, hp: Hyperparams, params, env: EnvCarry, key: jax.Array):
    """An actor: `num_steps` steps in each environment with the policy `params`, the behaviour
    log-probabilities stored in the rollout. Returns `(env, Transition [T, N, ...])`."""
    run = on_policy.setup(config, hp)
    return collect_rollout(run.env, run.network, params, env, key, config.num_steps)


def prepare(config: IMPALAConfig, network, hp: Hyperparams, params, trajectory: Transition):
    """The learner's targets for a rollout of μ: V-trace with the learner's π and V, or GAE(λ)
    as if μ were π (corrections none and ppo_clip)."""
    if config.recurrent:
        distribution, values, states = run_sequence(
            network, params, trajectory.obs, trajectory.carry, trajectory.episode_done
        )
        next_values = successor_values(network, params, states, trajectory.next_obs)
    else:
        distribution, values = network.apply(params, trajectory.obs)
        next_values = network.apply(params, trajectory.next_obs, method="value")
    distribution = with_action_mask(distribution, trajectory.action_mask, "impala.prepare")
    if config.correction == "vtrace":
        log_rhos = distribution.log_prob(trajectory.action) - trajectory.log_prob
        advantages, targets = pgjax.vtrace(
            trajectory.reward,
            values,
            next_values,
            trajectory.terminated,
            trajectory.truncated,
            log_rhos,
            hp["gamma"],
            hp["vtrace_lambda"],
            rho_bar=hp["rho_bar"],
            c_bar=hp["c_bar"],
            pg_rho_bar=hp["pg_rho_bar"],
        )
    else:
        current = trajectory._replace(value=values, next_value=next_values)
        advantages, targets = trajectory_gae(current, hp["gamma"], hp["vtrace_lambda"])
    return Batch(
        trajectory.obs,
        trajectory.action,
        trajectory.log_prob,
        advantages,
        targets,
        trajectory.carry,
        trajectory.episode_done if config.recurrent else None,
        trajectory.action_mask,
    )


def loss(config: IMPALAConfig, network, hp: Hyperparams, params, batch: Batch):
    """The policy gradient (or PPO's clipped ratio π/μ), the value loss and the entropy bonus."""
    distribution, values = on_policy.apply_policy(
        network, params, batch.obs, batch.carry, batch.episode_done, batch.action_mask
    )
    log_probs = distribution.log_prob(batch.action)
    if config.correction == "ppo_clip":
        policy_loss = pgjax.ppo_clip_loss(
            log_probs, batch.behaviour_log_prob, batch.advantages, clip_eps=hp["clip_eps"]
        )
    else:
        policy_loss = pgjax.policy_gradient_loss(log_probs, batch.advantages)
    value_loss = pgjax.value_loss(values, batch.targets)
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
        "behaviour_kl": pgjax.approx_kl(log_probs, batch.behaviour_log_prob),
    }


def learn(config: IMPALAConfig, state: IMPALAState, trajectory: Transition):
    """The learner: one gradient step on a rollout, whichever parameters acted in it."""
    hp = state.hyperparams
    run = on_policy.setup(config, hp)
    batch = prepare(config, run.network, hp, state.params, trajectory)
    params, opt_state, loss_metrics = gradient_step(
        lambda p, b: loss(config, run.network, hp, p, b),
        run.optimizer,
        state.params,
        state.opt_state,
        batch,
    )
    metrics = {
        **episode_metrics(trajectory),
        **loss_metrics,
        "learning_rate": run.schedule(steps_taken(state.opt_state)),
    }
    return state._replace(params=params, opt_state=opt_state), metrics


def _lagged(config: IMPALAConfig, state: IMPALAState):
    """(the actors' parameters θ_{k−L}, the ring after θ_k joins it)."""
    if not config.policy_lag:
        return state.params, None
    oldest = jax.tree.map(lambda ring: ring[0], state.actor_params)
    ring = jax.tree.map(
        lambda ring, p: jnp.concatenate([ring[1:], p[None]]), state.actor_params, state.params
    )
    return oldest, ring


def update(config: IMPALAConfig, state: IMPALAState) -> tuple[IMPALAState, dict]:
    """One IMPALA update: the lagging actors' rollout, the learner's V-trace step, the ring moved
    on."""
    rollout_key, key = jax.random.split(state.key)
    actor_params, ring = _lagged(config, state)
    env, trajectory = collect(config, state.hyperparams, actor_params, state.env, rollout_key)
    lag = jnp.minimum(steps_taken(state.opt_state), config.policy_lag)
    state, metrics = learn(config, state._replace(env=env, key=key, actor_params=ring), trajectory)
    return state, {**metrics, "policy_lag": lag.astype(jnp.float32)}


IMPALA = Algorithm(
    "impala",
    IMPALAConfig,
    init,
    update,
    on_policy.act,
    data_parallel=True,
    action_masks=True,
    initial_carry=on_policy.fresh_carry,
    act_carried=on_policy.act_carried,
    actor_learner=ActorLearner(reset, collect, learn),  # `pgjax train impala --async`
)
make_train = IMPALA.make_train
