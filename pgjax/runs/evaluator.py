"""The one evaluator every part of the run layer calls: target stops, the asynchronous engine,
`pgjax evaluate` and the command line's reports.

It compiles `pgjax.training.evaluation.make_evaluate_runs` (the algorithm's own evaluator, or
episodes of its environment, over the runs split across the devices like the training state,
every run's key drawn by the one rule of `evaluation_key`) once, and gathers its results on
every process.
"""

from __future__ import annotations

import time

import numpy as np

from pgjax.runs import distributed
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config, ConfigError
from pgjax.training.evaluation import make_evaluate_runs


def check_target(algorithm: Algorithm, target_return) -> None:
    """Raises ConfigError (before anything compiles) for a target return on an algorithm whose
    evaluation has no return."""
    if target_return is not None and algorithm.target_metric is None:
        raise ConfigError(
            f"{algorithm.name} is not evaluated by a return, so it cannot stop at a target "
            "return (target_return).",
            "target_return",
        )


_SHARED: dict = {}  # RunEvaluator.shared's evaluators


class RunEvaluator:
    """`evaluator(states, seed) -> metrics`, each `[num_runs, ...]` NumPy, on every process.

    Args:
      num_episodes: episodes per run (for RLHF: fresh prompts).
      deterministic: act with the policy's mode (else sample).
      envs_devices: devices per run, as the runs were trained (the states' layout).
    """

    def __init__(
        self,
        algorithm: Algorithm,
        config: Config,
        num_runs: int,
        num_episodes: int,
        deterministic: bool = True,
        envs_devices: int = 1,
    ):
        self.algorithm, self.num_runs = algorithm, num_runs
        self._program = make_evaluate_runs(
            algorithm, config, num_runs, num_episodes, deterministic, envs_devices
        )
        self._compiled = None
        self.compile_seconds = 0.0

    @classmethod
    def shared(
        cls,
        algorithm: Algorithm,
        config: Config,
        num_runs: int,
        num_episodes: int,
        deterministic: bool = True,
        envs_devices: int = 1,
    ) -> RunEvaluator:
        """The process's one evaluator for these settings: the target's evaluator and the
        final report's are the same program, compiled once (`compile_seconds` is 0 for a
        reused one)."""
        key = (
            id(algorithm),
            config.fingerprint(),
            num_runs,
            num_episodes,
            deterministic,
            envs_devices,
        )
        if key in _SHARED:
            _SHARED[key].compile_seconds = 0.0
            return _SHARED[key]
        evaluator = cls(algorithm, config, num_runs, num_episodes, deterministic, envs_devices)
        _SHARED[key] = evaluator
        return evaluator

    def compile(self, states) -> RunEvaluator:
        if self._compiled is not None:
            return self
        start = time.perf_counter()
        self._compiled = self._program.lower(states, self._indices(), np.uint32(0)).compile()
        self.compile_seconds = time.perf_counter() - start
        return self

    def _indices(self) -> np.ndarray:
        return np.arange(self.num_runs, dtype=np.uint32)

    def __call__(self, states, seed: int) -> dict[str, np.ndarray]:
        if self._compiled is None:
            self.compile(states)
        metrics = self._compiled(states, self._indices(), np.uint32(seed))
        return {k: np.asarray(v) for k, v in distributed.fetch(metrics).items()}

    def target_value(self, metrics: dict[str, np.ndarray]) -> float:
        """The mean over episodes and runs of the metric a target return compares."""
        return float(np.mean(metrics[self.algorithm.target_metric]))
