"""A host-side progress bar fed from inside the jitted training loop (see
`pgjax.training.report_progress`)."""

from __future__ import annotations

import math

from tqdm.auto import tqdm


class ProgressBar:
    """Counts environment steps over all seeds; shows steps/s and the latest episode return.

    Pass the instance as `progress=` to an algorithm's `make_train`. Under `jax.vmap` over seeds
    the callback runs once per seed per update, so each call advances the bar by one update of
    one seed.
    """

    def __init__(self, total_steps: int, steps_per_update: int, num_seeds: int = 1, **kwargs):
        self.steps_per_update = steps_per_update
        self.total = total_steps * num_seeds
        self.bar = tqdm(total=self.total, unit="step", unit_scale=True, mininterval=0.5, **kwargs)
        self.recent_return = math.nan

    def start(self) -> None:
        """Restarts the clock, so steps/s leaves out compilation."""
        self.bar.reset(total=self.total)

    def __call__(self, update: int, metrics: dict) -> None:
        episode_return = float(metrics.get("episode_return", math.nan))
        if not math.isnan(episode_return):
            self.recent_return = episode_return
        self.bar.update(self.steps_per_update)
        self.bar.set_postfix(update=update + 1, ret=f"{self.recent_return:.1f}", refresh=False)

    def close(self) -> None:
        self.bar.close()
