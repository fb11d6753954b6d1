"""A progress bar fed by the driver after every chunk (`progress=` of `pgjax.training.run`)."""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm


class ProgressBar:
    """Counts environment steps over all seeds; shows steps/s and the latest episode return
    (the mean over seeds of the last update in which an episode ended)."""

    def __init__(self, steps_per_update: int, num_seeds: int, total_steps: int, **kwargs):
        self.steps = steps_per_update * num_seeds
        self.bar = tqdm(
            total=total_steps * num_seeds, unit="step", unit_scale=True, mininterval=0.5, **kwargs
        )
        self.recent_return = math.nan

    def __call__(self, updates_done: int, metrics: dict[str, np.ndarray]) -> None:
        if not metrics:  # the driver starts: compiling is done, restart the clock
            self.bar.reset()
            self.bar.update(updates_done * self.steps)
            return
        returns = np.asarray(metrics.get("episode_return", np.full((1, 1), np.nan)))
        finished = ~np.isnan(returns).all(axis=0)
        if finished.any():
            self.recent_return = float(np.nanmean(returns[:, np.nonzero(finished)[0][-1]]))
        self.bar.update(updates_done * self.steps - self.bar.n)
        self.bar.set_postfix(update=updates_done, ret=f"{self.recent_return:.1f}", refresh=False)

    def close(self) -> None:
        self.bar.close()
