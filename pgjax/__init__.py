"""pgjax: pure, jittable policy-gradient kernels and on-device training loops in JAX.

The package's folders are its layers, each importing only those above it in this list:

    pgjax.kernels     pure math on arrays (jax, numpy); re-exported here: pgjax.gae, ...
    pgjax.envs        vectorised environments (gymnax, Brax, XLand-MiniGrid, Jumanji), wrappers
    pgjax.training    networks, rollouts, optimisers, the algorithm interface, the driver
    pgjax.algorithms  one file per algorithm, each on the interface
    pgjax.cli         the command line: train, resume, evaluate

`import pgjax` loads only the kernels.
"""

from pgjax.kernels import *  # noqa: F403  (the flat public API: pgjax.gae, ...)
from pgjax.kernels import __all__ as __all__

__version__ = "0.1.0"
