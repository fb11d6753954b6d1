"""Checkpoints of a whole training state with orbax: `RUN_DIR/checkpoints/UPDATE/`.

Each checkpoint holds two items: `state` (the pytree, every leaf with its leading run axis;
PRNG keys as their raw data) and `meta` (JSON: algorithm, environment, seeds, the config's
fingerprint, updates and environment steps done). orbax writes each to a temporary directory
and renames it when complete, so a checkpoint is either whole or absent; the manager keeps the
last few.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import jax

from pgjax.training.rundir import CHECKPOINTS, RunDirectoryError

with warnings.catch_warnings():  # orbax warns at import about optional backends it lacks
    warnings.simplefilter("ignore")
    import orbax.checkpoint as ocp

# What `meta` records and `resume` / `evaluate` compare with config.json, in this order.
IDENTITY = ("algorithm", "env_id", "seeds", "fingerprint")


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _key_data(tree):
    """Typed PRNG keys as their raw uint32 data, which every orbax version can write."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _wrap_keys(tree, template):
    """The inverse of `_key_data`: raw data back into keys of the template's implementation."""
    return jax.tree.map(
        lambda x, t: jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if _is_key(t) else x,
        tree,
        template,
    )


class Checkpoints:
    """The checkpoints of one run directory."""

    def __init__(self, run_dir: Path, keep: int = 3):
        self.directory = Path(run_dir).absolute() / CHECKPOINTS
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
            item_names=("state", "meta"),
        )

    def latest(self) -> int | None:
        """The number of updates of the newest complete checkpoint (None: there is none)."""
        return self._manager.latest_step()

    def save(self, updates: int, state: Any, meta: dict) -> None:
        """Starts writing the checkpoint after `updates` updates (in the background: the
        training state is copied to the host first, so training may go on)."""
        self._manager.save(
            updates,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(_key_data(state)), meta=ocp.args.JsonSave(meta)
            ),
        )

    def wait(self) -> None:
        """Blocks until every checkpoint started is on disk."""
        self._manager.wait_until_finished()

    def restore(self, template: Any, expected: dict, updates: int | None = None):
        """`(state, meta)` of the checkpoint after `updates` (default: the latest), shaped and
        placed like `template` (e.g. a fresh initial state).

        Raises:
          RunDirectoryError: no checkpoint, an unreadable one, or one whose identity differs
            from `expected` (the run directory's config.json), naming what differs.
        """
        updates = self.latest() if updates is None else updates
        if updates is None:
            raise RunDirectoryError(f"{self.directory} holds no checkpoint to continue from.")
        try:
            restored = self._manager.restore(
                updates,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_key_data(template)),
                    meta=ocp.args.JsonRestore(),
                ),
            )
        except Exception as error:  # orbax raises many kinds for a damaged checkpoint
            raise RunDirectoryError(
                f"{self.directory / str(updates)} could not be read "
                f"({type(error).__name__}: {error})."
            ) from None
        meta = dict(restored["meta"] or {})
        for name in IDENTITY:
            if meta.get(name) != expected.get(name):
                raise RunDirectoryError(
                    f"{self.directory / str(updates)} was written for {name}="
                    f"{meta.get(name)!r}, but config.json says {expected.get(name)!r}."
                )
        return _wrap_keys(restored["state"], template), meta

    def close(self) -> None:
        self._manager.close()
