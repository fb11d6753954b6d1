"""How a run is run: the session's options and the asynchronous engine's (none of them changes
the numbers a compiled run computes). Plain Python: the command line builds and checks them
before JAX starts."""

from __future__ import annotations

import dataclasses
import math

from pgjax.training.config import INT32_MAX, ConfigError


def _positive_int(name: str, value, at_most: int = INT32_MAX) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= at_most:
        raise ConfigError(f"{name} must be an int in [1, {at_most}], got {value!r}.", name)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the session runs.

    Attributes:
      chunk_updates: the most updates one compiled call runs (static; default: all, up to 512).
      chunk_seconds: the wall time a chunk aims at; it bounds how long a stop request waits
        (default: 1 s, or 0.25 s with a `target_return`, which is checked after each chunk).
      checkpoint_every: chunks between checkpoints (one is always written at the end).
      keep_checkpoints: how many of the newest checkpoints to keep.
      target_return: stop once the mean evaluation return over the runs reaches it.
      target_episodes: evaluation episodes per run for that check.
      tensorboard: also write TensorBoard event files when tensorboardX is installed.
      envs_devices: devices per run: each run's environments and minibatches are split over
        them, gradients and statistics reduced across them (`across_devices`). Changes the
        numbers only by the order of floating-point reductions.
      eval_episodes: evaluation episodes (or prompts) per run of the report at the end of the
        run; recorded so that a resumed run reports as the original would have.
      stochastic_evaluation: the target's and the report's episodes sample the policy's
        actions instead of taking its mode: for a task whose optimal policy is stochastic
        (`ShortCorridor-pgjax`), where the mode of the best policy never reaches the goal.
    """

    chunk_updates: int | None = None
    chunk_seconds: float | None = None
    checkpoint_every: int = 20
    keep_checkpoints: int = 3
    target_return: float | None = None
    target_episodes: int = 10
    tensorboard: bool = True
    envs_devices: int = 1
    eval_episodes: int = 10
    stochastic_evaluation: bool = False

    def validate(self) -> None:
        for name in ("checkpoint_every", "keep_checkpoints", "target_episodes", "envs_devices"):
            _positive_int(name, getattr(self, name))
        _positive_int("eval_episodes", self.eval_episodes, 1_000_000)
        if self.chunk_updates is not None:
            _positive_int("chunk_updates", self.chunk_updates)
        if self.chunk_seconds is not None and not (
            isinstance(self.chunk_seconds, int | float) and 0 < self.chunk_seconds < math.inf
        ):
            raise ConfigError(
                f"chunk_seconds must be > 0 and finite, got {self.chunk_seconds}.", "chunk_seconds"
            )
        if self.target_return is not None and not math.isfinite(self.target_return):
            raise ConfigError(
                f"target_return must be finite, got {self.target_return}.", "target_return"
            )

    @property
    def paced_seconds(self) -> float:
        """The wall time a chunk aims at: `chunk_seconds`, else 1 s, or 0.25 s with a target
        (checked after every chunk, so shorter chunks stop closer to it)."""
        if self.chunk_seconds is not None:
            return self.chunk_seconds
        return 1.0 if self.target_return is None else 0.25

    def check_devices(self) -> None:
        """Raises ConfigError when this machine has fewer devices than a run needs (apart from
        `validate`: a finished run is still read and evaluated on a smaller machine)."""
        import jax

        if self.envs_devices > len(jax.devices()):
            raise ConfigError(
                f"envs_devices={self.envs_devices} is more than the {len(jax.devices())} "
                "device(s) JAX has.",
                "envs_devices",
            )


@dataclasses.dataclass(frozen=True)
class AsyncOptions:
    """The asynchronous actor-learner engine's options (`actors`: actor threads; `queue_size`:
    rollouts the queue holds before the actors wait for the learner; `join_seconds`: how long
    shutting down waits for the actor threads, all together)."""

    actors: int = 1
    queue_size: int = 2
    join_seconds: float = 30.0

    def validate(self) -> None:
        _positive_int("actors", self.actors, 1024)
        _positive_int("queue_size", self.queue_size, 1024)
        if not 0 < self.join_seconds < math.inf:
            raise ConfigError(f"join_seconds must be > 0, got {self.join_seconds}.", "join_seconds")
