"""The kernels: small pure functions of arrays, time-major with any batch shape.

Grouped by topic, re-exported here and from `pgjax` (`pgjax.gae`, `pgjax.ppo_clip_loss`, ...):

* `returns`: TD errors, discounted, n-step and λ-returns, GAE (`recurrence`: the backward
  linear recurrence they share);
* `advantages`: baselines, group-relative advantages (GRPO, Dr. GRPO, RLOO), normalisation;
* `policy_gradients`: the score-function loss, TRPO's surrogate, PPO's clipped surrogate;
* `value`: value regression;
* `preferences`: the Bradley-Terry loss of a reward model fitted to pairwise preferences;
* `vtrace`: IMPALA's off-policy targets and advantages from truncated importance ratios;
* `q_learning`: (double) Q-learning targets, the Huber TD loss, ε-greedy and its schedule;
* `soft_actor_critic`: SAC's soft TD target, twin-Q critic, actor and temperature losses;
* `regularizers`: entropy bonus and KL estimators (with what their gradients estimate), penalty
  and adaptive coefficient;
* `sequence`: language-model RL: CISPO, rollout / trainer mismatch weights and masks,
  REINFORCE++ advantages, DAPO's dynamic sampling and overlong penalty;
* `token_log_probs`: token log-probabilities and entropy from hidden states, in chunks;
* `aggregation`: masked reductions (token and sequence means);
* `distributions`: categorical (with invalid-action masks), diagonal and tanh-squashed
  Gaussians, Beta (the last two on bounds [low, high]);
* `natural_gradient`: TRPO's Fisher-vector products, conjugate gradient and line search.

Imports jax and numpy only.
"""

from pgjax.kernels.advantages import (
    batch_mean_baseline,
    dr_grpo_advantages,
    grpo_advantages,
    leave_one_out_baseline,
    normalize_advantages,
    rloo_advantages,
)
from pgjax.kernels.aggregation import aggregate_loss
from pgjax.kernels.distributions import Beta, Categorical, DiagGaussian, TanhGaussian
from pgjax.kernels.natural_gradient import (
    NaturalGradientInfo,
    fisher_vector_product,
    natural_gradient_step,
)
from pgjax.kernels.policy_gradients import (
    clip_fraction,
    policy_gradient_loss,
    ppo_clip_loss,
    sequence_log_ratio,
    surrogate_loss,
)
from pgjax.kernels.preferences import bradley_terry_loss
from pgjax.kernels.q_learning import (
    epsilon_greedy,
    linear_schedule,
    q_learning_targets,
    q_value_loss,
)
from pgjax.kernels.recurrence import reverse_linear_recurrence
from pgjax.kernels.regularizers import (
    adaptive_kl_coefficient,
    approx_kl,
    entropy_loss,
    kl_estimate,
    kl_penalty_loss,
)
from pgjax.kernels.returns import (
    discounted_returns,
    gae,
    lambda_returns,
    n_step_returns,
    td_errors,
)
from pgjax.kernels.sequence import (
    cispo_loss,
    dynamic_sampling_mask,
    importance_ratio_mask,
    overlong_penalty,
    reinforce_plus_plus_advantages,
    truncated_importance_weights,
)
from pgjax.kernels.soft_actor_critic import (
    sac_actor_loss,
    sac_temperature_loss,
    soft_q_targets,
    twin_q_loss,
)
from pgjax.kernels.token_log_probs import chunked_log_probs
from pgjax.kernels.value import value_loss
from pgjax.kernels.vtrace import vtrace

__all__ = [
    "Beta",
    "Categorical",
    "DiagGaussian",
    "NaturalGradientInfo",
    "TanhGaussian",
    "adaptive_kl_coefficient",
    "aggregate_loss",
    "approx_kl",
    "batch_mean_baseline",
    "bradley_terry_loss",
    "chunked_log_probs",
    "cispo_loss",
    "clip_fraction",
    "discounted_returns",
    "dr_grpo_advantages",
    "dynamic_sampling_mask",
    "entropy_loss",
    "epsilon_greedy",
    "fisher_vector_product",
    "gae",
    "grpo_advantages",
    "importance_ratio_mask",
    "kl_estimate",
    "kl_penalty_loss",
    "lambda_returns",
    "leave_one_out_baseline",
    "linear_schedule",
    "n_step_returns",
    "natural_gradient_step",
    "normalize_advantages",
    "overlong_penalty",
    "policy_gradient_loss",
    "ppo_clip_loss",
    "q_learning_targets",
    "q_value_loss",
    "reinforce_plus_plus_advantages",
    "reverse_linear_recurrence",
    "rloo_advantages",
    "sac_actor_loss",
    "sac_temperature_loss",
    "sequence_log_ratio",
    "soft_q_targets",
    "surrogate_loss",
    "td_errors",
    "truncated_importance_weights",
    "twin_q_loss",
    "value_loss",
    "vtrace",
]
