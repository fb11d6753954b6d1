r"""Sutton & Barto's short corridor with switched actions: a task whose best policy is stochastic.

Sutton & Barto (2018), "Reinforcement Learning: An Introduction", 2nd ed., Example 13.1
(http://incompleteideas.net/book/the-book-2nd.html)::

    S0 ⇄ S1 ⇄ S2 → G        reward −1 per step; in S1 the actions are switched

`RIGHT` moves right and `LEFT` left (staying put at the left wall) in S0 and S2; in S1 `RIGHT`
moves left and `LEFT` moves right. Reaching G ends the episode (terminated). Every state shows
the same observation, `[1.0]`: the book's function approximation, the action features
x(s, right) = [1, 0] and x(s, left) = [0, 1] in every state, so a policy can only choose
p = π(right), the same in every state, and a deterministic policy never reaches G (always right
bounces between S0 and S1, always left stays in S0).

The episode's return from S0 under π(right) = p, the task's objective J(p) = v_π(S0), solves
the Bellman equations of the three states (expected steps E0 = 1/p + E1,
E1 = (3 − p)/(p(1 − p)), E2 = 1 + (1 − p) E1):

.. math::

    J(p) = -\frac{2\,(2 - p)}{p\,(1 - p)}, \qquad
    p^* = \arg\max_p J(p) = 2 - \sqrt 2 \approx 0.5858, \qquad
    J(p^*) = -(6 + 4\sqrt 2) \approx -11.657

(J'(p) = 0 is p² − 4p + 2 = 0.) An ε-greedy policy on action values that cannot tell the states
apart acts greedily everywhere: π(right) = 1 − ε/2 (greedy right) or ε/2 (greedy left), which
for ε = 0.1 gives J(0.95) ≈ −44.2 and J(0.05) ≈ −82.1, the book's −44 and −82.

Time limit: `TIME_LIMIT` = 1000 steps (truncated, not terminated). The time-limited mean
return E[−min(L, 1000)] of an episode of length L differs from J(p) by at most 5e-5 for every p
in [0.05, 0.95] (computed exactly from the chain's transient matrix: 5e-5 at p = 0.05, 2e-9 at
p = 0.95, P(L > 1000) = 6e-47 at p*), so neither the optimum nor the ε-greedy values at
ε = 0.1 are biased; it matters only for nearly deterministic policies (0.12 at p = 0.025,
greedy left at ε = 0.05), which never finish without it.

The id `ShortCorridor-pgjax` makes it a gymnax id like the partially observable tasks of
`pgjax.envs.partial` (it is one: the states are aliased): `make_env("ShortCorridor-pgjax", 8)`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

ENV_ID = "ShortCorridor-pgjax"
LEFT, RIGHT = 0, 1
NUM_STATES = 3  # S0, S1, S2; G (= 3) is terminal and never observed
SWITCHED = 1  # the state whose actions are reversed
TIME_LIMIT = 1000

OPTIMAL_RIGHT_PROBABILITY = 2.0 - math.sqrt(2.0)
"""p* = 2 − √2 ≈ 0.5858, the π(right) that maximises J (see the module docstring)."""
OPTIMAL_RETURN = -(6.0 + 4.0 * math.sqrt(2.0))
"""J(p*) = −(6 + 4√2) ≈ −11.657."""


def expected_return(right_probability):
    r"""J(p) = −2(2 − p) / (p(1 − p)), the expected return from S0 when every state goes right
    with probability p (no time limit; −inf at p = 0 or 1, where G is never reached).

    Args:
      right_probability: p, float or array in [0, 1] (NumPy: the closed form, for reference).
    """
    p = np.asarray(right_probability, np.float64)
    with np.errstate(divide="ignore"):
        return -2.0 * (2.0 - p) / (p * (1.0 - p))


def epsilon_greedy_returns(epsilon):
    """`(J greedy right, J greedy left)`: J of the ε-greedy policies, π(right) = 1 − ε/2 and
    ε/2 (≈ −44.2 and −82.1 at ε = 0.1, the book's −44 and −82)."""
    half = np.asarray(epsilon, np.float64) / 2.0
    return expected_return(1.0 - half), expected_return(half)


class CorridorState(NamedTuple):
    """`position`: int32 in {0, 1, 2} (G is never stored: the episode resets); `time`: steps
    taken in the episode."""

    position: jax.Array
    time: jax.Array


class CorridorParams(NamedTuple):
    """`max_steps_in_episode`: the time limit (truncation), as gymnax's params name it."""

    max_steps_in_episode: int = TIME_LIMIT


class ShortCorridor:
    """The short corridor with gymnax's interface: `reset(key, params)`, `step(key, state,
    action, params)` returning `(obs, state, reward, terminated, truncated, info)` with an
    automatic reset and `info["final_observation"]`, and gymnax spaces. Deterministic; the keys
    are unused."""

    name = ENV_ID
    num_actions = 2

    @property
    def default_params(self) -> CorridorParams:
        """The time limit `TIME_LIMIT`."""
        return CorridorParams()

    def observation(self) -> jax.Array:
        """The one observation of every state, `[1]` float32."""
        return jnp.ones((1,), jnp.float32)

    def reset(self, key: jax.Array, params: CorridorParams | None = None):
        """`(obs [1], state)`: S0 at time 0."""
        del key, params
        return self.observation(), CorridorState(jnp.int32(0), jnp.int32(0))

    def step(self, key: jax.Array, state: CorridorState, action, params=None):
        """One step: reward −1, terminated on reaching G, truncated when the step reaches the
        time limit without it; an ended episode restarts in S0. `action` is an int, `RIGHT` or
        `LEFT` (not checked, as in gymnax: any other value moves as `LEFT`)."""
        params = self.default_params if params is None else params
        move = jnp.where(jnp.asarray(action) == RIGHT, 1, -1)
        move = jnp.where(state.position == SWITCHED, -move, move)
        position = jnp.clip(state.position + move, 0, NUM_STATES).astype(jnp.int32)
        time = state.time + 1
        terminated = position == NUM_STATES
        truncated = ~terminated & (time >= params.max_steps_in_episode)
        done = terminated | truncated
        state = CorridorState(
            jnp.where(done, 0, position).astype(jnp.int32), jnp.where(done, 0, time)
        )
        obs = self.observation()
        info = {"final_observation": obs}
        return obs, state, jnp.float32(-1.0), terminated, truncated, info

    def observation_space(self, params=None):
        """`Box(0, 1, (1,), float32)` (gymnax's)."""
        # Imported here: all of gymnax loads (≈1.5 s) and the corridor does not need it.
        from gymnax.environments import spaces

        return spaces.Box(0.0, 1.0, (1,), jnp.float32)

    def action_space(self, params=None):
        """`Discrete(2)`: `LEFT` = 0, `RIGHT` = 1 (gymnax's)."""
        from gymnax.environments import spaces

        return spaces.Discrete(self.num_actions)


def make() -> tuple[ShortCorridor, CorridorParams]:
    """`(env, params)`, as `gymnax.make` returns them."""
    env = ShortCorridor()
    return env, env.default_params
