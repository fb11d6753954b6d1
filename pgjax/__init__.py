"""pgjax: pure, jittable policy-gradient kernels and on-device training loops in JAX.

`import pgjax` loads only the kernels (jax, numpy). Environments, networks, training
loops, plotting and the CLI live in submodules (`pgjax.envs`, `pgjax.networks`,
`pgjax.algorithms`, `pgjax.cli`) that import gymnax / flax / optax / matplotlib when used.
"""

from pgjax.aggregation import aggregate_loss
from pgjax.baselines import (
    batch_mean_baseline,
    dr_grpo_advantages,
    grpo_advantages,
    leave_one_out_baseline,
    rloo_advantages,
)
from pgjax.distributions import Categorical, DiagGaussian, TanhGaussian
from pgjax.entropy import entropy_loss
from pgjax.gae import gae
from pgjax.kl import adaptive_kl_coefficient, approx_kl, kl_estimate, kl_penalty_loss
from pgjax.natural_gradient import (
    NaturalGradientInfo,
    fisher_vector_product,
    natural_gradient_step,
)
from pgjax.normalization import normalize_advantages
from pgjax.policy_gradient import policy_gradient_loss
from pgjax.ppo import clip_fraction, ppo_clip_loss, sequence_log_ratio
from pgjax.recurrence import reverse_linear_recurrence
from pgjax.returns import discounted_returns, lambda_returns, n_step_returns, td_errors
from pgjax.surrogate import surrogate_loss
from pgjax.value import value_loss

__version__ = "0.1.0"

__all__ = [
    "Categorical",
    "DiagGaussian",
    "NaturalGradientInfo",
    "TanhGaussian",
    "adaptive_kl_coefficient",
    "aggregate_loss",
    "approx_kl",
    "batch_mean_baseline",
    "clip_fraction",
    "discounted_returns",
    "dr_grpo_advantages",
    "entropy_loss",
    "fisher_vector_product",
    "gae",
    "grpo_advantages",
    "kl_estimate",
    "kl_penalty_loss",
    "lambda_returns",
    "leave_one_out_baseline",
    "n_step_returns",
    "natural_gradient_step",
    "normalize_advantages",
    "policy_gradient_loss",
    "ppo_clip_loss",
    "reverse_linear_recurrence",
    "rloo_advantages",
    "sequence_log_ratio",
    "surrogate_loss",
    "td_errors",
    "value_loss",
]
