"""Deep Q-networks (Mnih et al., 2015, "Human-level control through deep reinforcement
learning", https://doi.org/10.1038/nature14236) with double Q-learning targets (van Hasselt et
al., 2016, https://arxiv.org/abs/1509.06461).

    for each update:
        ε ← linear schedule from ε_start to ε_end over the first fraction of the run
        act ε-greedily on Q_θ in N environments for T steps (uniform before learning_starts),
        store (s, a, r, terminated, truncated, s'_true) in the replay buffer   (off_policy.update)
        G times, on a uniformly sampled batch:
            y = r + γ(1 − terminated) Q_θ̄(s', argmax_a' Q_θ(s', a'))          (double DQN)
            θ ← Adam(θ, ∇ Huber(Q_θ(s, a) − y))
            every `target_update_every` steps: θ̄ ← τθ + (1 − τ)θ̄ (τ = 1: a copy)

A time limit is bootstrapped from the final observation the buffer stores, never treated as
terminal.
"""

from __future__ import annotations

import functools

import jax

import pgjax
from pgjax.algorithms.configs import DQNConfig
from pgjax.envs import env_spec
from pgjax.training import off_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.networks import QNetwork, init_network
from pgjax.training.optimizers import gradient_step
from pgjax.training.types import OffPolicyState


def network(config: DQNConfig) -> QNetwork:
    """The Q-network for the config's environment: one Q-value per action."""
    spec = env_spec(config.env_id)
    return QNetwork(
        spec.action_dim, config.hidden_sizes, config.activation, len(spec.observation_shape)
    )


def learners(config: DQNConfig, hp, key, obs) -> off_policy.Learners:
    """The Q-network's parameters, its target copy and the optimiser state."""
    params = {"q": init_network(network(config), key, obs)}
    opt_state = {"q": off_policy.optimizer(config, hp).init(params["q"])}
    return off_policy.Learners(params, dict(params), opt_state)


def learn(config: DQNConfig, hp, params, target_params, opt_state, batch, key):
    """One gradient step of the Huber TD loss on (double) Q-learning targets."""
    q = network(config)
    targets = pgjax.q_learning_targets(
        batch.reward,
        q.apply(target_params["q"], batch.next_obs),
        batch.terminated,
        hp["gamma"],
        next_q_selector=q.apply(params["q"], batch.next_obs) if config.double_q else None,
    )

    def loss(q_params):
        q_values = q.apply(q_params, batch.obs)
        value = pgjax.q_value_loss(
            q_values, batch.action, targets, loss=config.loss, huber_delta=hp["huber_delta"]
        )
        return value, {"loss": value, "q": q_values.max(axis=-1).mean()}

    q_params, q_opt, metrics = gradient_step(
        loss, off_policy.optimizer(config, hp), params["q"], opt_state["q"]
    )
    return {"q": q_params}, {"q": q_opt}, metrics


def epsilon(config: DQNConfig, hp, env_steps) -> jax.Array:
    """ε after `env_steps` environment steps: linear from `epsilon_start` to `epsilon_end`."""
    duration = hp["exploration_fraction"] * config.total_steps
    return pgjax.linear_schedule(env_steps, hp["epsilon_start"], hp["epsilon_end"], duration)


def explore(config: DQNConfig, hp, params, obs, key, env_steps):
    """ε-greedy actions on the online Q-network."""
    q_values = network(config).apply(params["q"], obs)
    return pgjax.epsilon_greedy(q_values, epsilon(config, hp, env_steps)).sample(key)


def init(config: DQNConfig, key: jax.Array, hyperparams: dict | None = None) -> OffPolicyState:
    """The off-policy state: environments, an empty replay buffer and fresh learners."""
    return off_policy.init(config, key, hyperparams, functools.partial(learners, config))


def update(config: DQNConfig, state: OffPolicyState) -> tuple[OffPolicyState, dict]:
    """One DQN update: ε-greedy steps into the replay buffer, then the TD gradient steps."""
    hp = state.hyperparams
    state, metrics = off_policy.update(
        config,
        state,
        functools.partial(explore, config, hp),
        functools.partial(learn, config, hp),
    )
    steps = state.updates * config.steps_per_update
    return state, {**metrics, "epsilon": epsilon(config, hp, steps)}


def act(config: DQNConfig, state: OffPolicyState, obs, key, deterministic: bool):
    """The greedy action (`deterministic`), or an ε-greedy one at the final ε."""
    q_values = network(config).apply(state.params["q"], obs)
    if deterministic:
        return pgjax.epsilon_greedy(q_values, 0.0).mode()
    return pgjax.epsilon_greedy(q_values, state.hyperparams["epsilon_end"]).sample(key)


DQN = Algorithm(
    "dqn",
    DQNConfig,
    init,
    update,
    act,
)
make_train = DQN.make_train
