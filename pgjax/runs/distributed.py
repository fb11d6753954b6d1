"""Several processes, one run: JAX's own distributed runtime (`jax.distributed`).

Every process runs the same program over the global device mesh (`jax.devices()` spans all of
them); each computes on its local devices, and the collectives XLA inserts cross processes. The
driver makes process 0 alone write the run directory; checkpoints are written and restored by
all processes together (orbax's multi-process support).

    initialize("10.0.0.1:1234", num_processes=2, process_id=0)   # explicit
    initialize()        # under SLURM, Open MPI, Kubernetes or a TPU pod: JAX detects the rest

The CLI calls `initialize` from `--coordinator-address/--num-processes/--process-id`, or with
no arguments when the environment names a cluster (`JAX_COORDINATOR_ADDRESS`, SLURM with more
than one task, Open MPI with more than one rank).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def launched_by_cluster(environ=os.environ) -> bool:
    """True when a launcher started this process as one of several that JAX can detect:
    `srun` (a job step of several tasks: SLURM_STEP_NUM_TASKS, which an `salloc` shell or an
    `sbatch` script outside `srun` does not set), `mpirun`, or an explicit coordinator.
    `PGJAX_DISTRIBUTED=off` says no whatever the environment."""
    if environ.get("PGJAX_DISTRIBUTED") == "off":
        return False
    if environ.get("JAX_COORDINATOR_ADDRESS"):
        return True
    for count in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"):
        if environ.get(count, "1").isdigit() and int(environ.get(count, "1")) > 1:
            return True
    return False


class JoinError(RuntimeError):
    """The processes of a run did not all join it in time."""


def rendezvous(address: str, num_processes: int, process_id: int, timeout_seconds: float):
    """Waits until all `num_processes` processes have started, before JAX's distributed
    runtime does (it aborts the process when a peer never joins). Process 0 listens on the
    coordinator's port + 1; the others connect to it and wait for its word that everyone is
    there.

    Raises:
      JoinError: naming the processes that did not join within `timeout_seconds`.
    """
    host, _, port = address.rpartition(":")
    endpoint = (host, int(port) + 1)
    deadline = time.monotonic() + timeout_seconds
    if process_id == 0:
        with socket.create_server(("", endpoint[1]), reuse_port=False) as server:
            server.settimeout(0.5)
            peers: dict[int, socket.socket] = {}
            while len(peers) < num_processes - 1:
                if time.monotonic() > deadline:
                    missing = sorted(set(range(1, num_processes)) - set(peers))
                    for peer in peers.values():
                        peer.close()
                    raise JoinError(
                        f"process(es) {missing} did not join {address} within "
                        f"{timeout_seconds:g} s."
                    )
                try:
                    peer, _ = server.accept()
                except TimeoutError:
                    continue
                peer.settimeout(5)
                peers[int(peer.recv(16).decode() or -1)] = peer
            for peer in peers.values():
                peer.sendall(b"go")
                peer.close()
        return
    while True:
        try:
            with socket.create_connection(endpoint, timeout=1) as connection:
                connection.sendall(str(process_id).encode())
                connection.settimeout(max(0.1, deadline - time.monotonic()))
                if connection.recv(2) == b"go":
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise JoinError(
                f"process 0 did not let everyone join at {address} within {timeout_seconds:g} s."
            )
        time.sleep(0.2)


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_seconds: int = 120,
) -> None:
    """Starts the distributed runtime (before anything else touches JAX's backend).

    Args:
      coordinator_address: `HOST:PORT` of process 0; None to let JAX detect the cluster.
      num_processes: how many processes take part.
      process_id: this one's index, 0 … num_processes − 1.
      timeout_seconds: how long to wait for every process to join, and how long a process may
        go silent before the others stop with an error (so a dead process never hangs them).
    """
    explicit = (coordinator_address, num_processes, process_id)
    if any(v is not None for v in explicit) and any(v is None for v in explicit):
        raise ValueError(
            "--coordinator-address, --num-processes and --process-id go together; got "
            f"{coordinator_address!r}, {num_processes!r}, {process_id!r}."
        )
    if num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id}.")
    where = f" at {coordinator_address} as process {process_id}" if coordinator_address else ""
    print(
        f"pgjax: joining {num_processes or 'the cluster’s'} processes{where}; a process that "
        f"does not join or stops answering ends the run within {timeout_seconds} s.",
        file=sys.stderr,
        flush=True,
    )
    if coordinator_address is not None:
        rendezvous(coordinator_address, num_processes, process_id, timeout_seconds)
    # Cross-process collectives between CPU devices go through gloo (GPUs and TPUs have their
    # own); asking for it never starts the backend, which must not run before initialize.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        initialization_timeout=timeout_seconds,
        heartbeat_timeout_seconds=timeout_seconds,
    )


def is_primary() -> bool:
    """Process 0: the one that writes files and prints."""
    return jax.process_index() == 0


def on_primary(action: Callable[[], Any], error_type: type[Exception]) -> None:
    """Runs `action` on process 0 alone and tells every process whether it raised
    `error_type`: process 0 re-raises its error, the others raise one of the same type that
    points to it. Without this, the others would wait for process 0 at the next collective
    until the heartbeat timeout, then report a lost process instead of the user's error."""
    error = None
    if is_primary():
        try:
            action()
        except error_type as caught:
            error = caught
    if from_all(np.array([error is not None])).any():
        if error is not None:
            raise error
        raise error_type("process 0 stopped the run: see its error.")


def fetch(tree: Any) -> Any:
    """Every leaf as a NumPy array holding all of it, on every process (an all-gather when the
    array is spread over several processes)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


def barrier(name: str) -> None:
    """Waits until every process gets here (nothing to wait for in a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def from_all(values: np.ndarray) -> np.ndarray:
    """Every process's `values`, stacked: `[num_processes, ...]` (one row in a single process).
    The host decisions every process must take alike (how long the next chunk is, whether to
    stop) are made from these rows, the same on every process."""
    values = np.asarray(values)
    if jax.process_count() == 1:
        return values[None]
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(values, tiled=False))
