"""Checkpoints of a whole training state with orbax: `RUN_DIR/checkpoints/UPDATE/`.

Each checkpoint holds two items: `state` (the pytree, every leaf with its leading run axis;
PRNG keys as their raw data) and `meta` (JSON: algorithm, environment, seeds, the config's
fingerprint, updates and environment steps done, and a SHA-256 digest of every array of the
state). orbax writes each to a temporary directory and renames it when complete, so a
checkpoint is either whole or absent; the manager keeps the last few.

Integrity: the digests are computed from the state as it is saved and compared with the state
as it is restored, so a checkpoint whose files were damaged afterwards (a flipped byte, a
truncated file) is named as corrupted, never loaded; `restore(..., updates=N)` restores an
earlier one instead.
"""

from __future__ import annotations

import hashlib
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from pgjax.runs import distributed
from pgjax.runs.rundir import CHECKPOINTS, RunDirectoryError

with warnings.catch_warnings():  # orbax warns at import about optional backends it lacks
    warnings.simplefilter("ignore")
    import orbax.checkpoint as ocp

# What `meta` records and `resume` / `evaluate` compare with config.json, in this order.
IDENTITY = ("algorithm", "env_id", "seeds", "policy", "fingerprint")


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


class CorruptCheckpointError(RunDirectoryError):
    """A checkpoint whose arrays do not match the digests written with it."""


def digests(state) -> dict[str, str]:
    """SHA-256 of every array of a state (its dtype, shape and bytes), by its path in the
    tree: what a checkpoint's metadata records at save time and `restore` checks. Arrays spread
    over processes are gathered first, so every process computes the same digests."""
    leaves = jax.tree_util.tree_leaves_with_path(distributed.fetch(_key_data(state)))
    result = {}
    for path, leaf in leaves:
        array = np.ascontiguousarray(leaf)
        digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
        result[jax.tree_util.keystr(path)] = digest.hexdigest()
    return result


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

    def on_disk(self) -> list[int]:
        """The updates of the checkpoints complete on disk, oldest first (orbax renames a
        checkpoint's directory to its number only once it is written; `latest` may already
        count one still being written in the background)."""
        if not self.directory.is_dir():
            return []
        return sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())

    def all(self) -> list[int]:
        """The updates of every complete checkpoint, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, updates: int, state: Any, meta: dict) -> None:
        """Starts writing the checkpoint after `updates` updates (in the background: the
        training state is copied to the host first, so training may go on), with the digests
        of its arrays in `meta`."""
        meta = {**meta, "digests": digests(state)}
        self._manager.save(
            updates,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(_key_data(state)), meta=ocp.args.JsonSave(meta)
            ),
        )

    def discard_after(self, updates: int) -> list[Path]:
        """Moves the checkpoints after `updates` aside (renamed `N.discarded-TIME`, so that a
        run resumed from an earlier checkpoint writes its own; nothing is deleted). Returns
        where they went."""
        moved = []
        if distributed.is_primary():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for step in self.all():
                if step > updates:
                    target = self.directory / f"{step}.discarded-{stamp}"
                    (self.directory / str(step)).rename(target)
                    moved.append(target)
        distributed.barrier("pgjax: later checkpoints moved aside")
        self._manager.reload()
        return moved

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
        path = self.directory / str(updates)
        previous_hook = sys.unraisablehook
        sys.unraisablehook = _without_abandoned_reads(previous_hook)
        # The identity is read and compared first: a state of another structure (say, another
        # policy network's) would otherwise fail inside orbax with an unreadable message.
        meta = self._read(path, updates, ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        if not isinstance(meta, dict) or not isinstance(meta.get("updates"), int):
            raise RunDirectoryError(f"{path}/meta does not hold a pgjax checkpoint record.")
        for name in IDENTITY:
            # Checkpoints written before `policy` was recorded hold feed-forward policies.
            written = meta.get(name, "mlp" if name == "policy" else None)
            if written != expected.get(name):
                raise RunDirectoryError(
                    f"{path} was written for {name}={written!r}, but config.json says "
                    f"{expected.get(name)!r}."
                )
        restored = self._read(
            path,
            updates,
            ocp.args.Composite(
                state=ocp.args.StandardRestore(_key_data(template)), meta=ocp.args.JsonRestore()
            ),
        )
        sys.unraisablehook = previous_hook
        self._verify(path, updates, restored["state"], meta)
        return _wrap_keys(restored["state"], template), meta

    def _read(self, path: Path, updates: int, args):
        try:
            return self._manager.restore(updates, args=args)
        except Exception as error:  # orbax raises many kinds for a damaged checkpoint
            # The filter stays: the abandoned reads go on failing for a while.
            raise RunDirectoryError(
                f"{path} could not be read ({type(error).__name__}: {_first_line(error)})."
            ) from None

    def _verify(self, path: Path, updates: int, state, meta: dict) -> None:
        """Raises CorruptCheckpointError when the restored arrays differ from the digests
        saved with them (checkpoints written before digests existed are not checked)."""
        saved = meta.get("digests")
        if saved is None:
            return
        now = digests(state)
        bad = [name for name in saved if now.get(name) != saved[name]]
        if not bad and set(now) == set(saved):
            return
        earlier = [step for step in self.all() if step < updates]
        offer = (
            f"earlier checkpoints: {', '.join(map(str, earlier))}; `pgjax resume RUN_DIR "
            f"--from-checkpoint {earlier[-1]}` continues from the newest of them"
            if earlier
            else "there is no earlier checkpoint"
        )
        where = f"state{bad[0]}" if bad else "its arrays"
        raise CorruptCheckpointError(
            f"{path} is corrupted: {where} does not match the digest written with it; {offer}."
        )

    def close(self) -> None:
        self._manager.close()


def require_checkpoint(run_dir: Path) -> None:
    """Raises RunDirectoryError unless `run_dir/checkpoints` holds a checkpoint directory: the
    check `resume` and `evaluate` make before compiling anything (without creating the
    directory, as opening a `Checkpoints` would)."""
    directory = Path(run_dir) / CHECKPOINTS
    steps = [p for p in directory.iterdir() if p.name.isdigit()] if directory.is_dir() else []
    if not steps:
        raise RunDirectoryError(f"{directory} holds no checkpoint to continue from.")


def _first_line(error: Exception, limit: int = 300) -> str:
    """The gist of an orbax/TensorStore error: its first line, without the JSON spec that
    TensorStore appends, at most `limit` characters."""
    text = str(error)
    for cut in ("\n", " [tensorstore_spec", " See full TensorStore details"):
        text = text.split(cut)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _without_abandoned_reads(previous):
    """`previous` (a `sys.unraisablehook`), except for the reports of orbax's abandoned reads.

    When one array of a checkpoint cannot be read, orbax gives up on the others, but their
    reads finish in TensorStore's threads and report to an event loop orbax has closed
    ("Event loop is closed", the same read error again): dozens of tracebacks around the one
    line that says which checkpoint is damaged. Those are dropped; anything else is not.
    """

    def hook(unraisable):
        code = getattr(unraisable.object, "cr_code", None)
        from_orbax = code is not None and "orbax" in code.co_filename
        closed_loop = str(unraisable.exc_value) == "Event loop is closed"
        if not (from_orbax or closed_loop):
            previous(unraisable)

    return hook
