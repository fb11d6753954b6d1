"""The RLHF pipeline's configurations: the task, the models, the stages before RL and each RL
algorithm's own settings.

Plain dataclasses over `pgjax.training.config.Config` (no JAX import), so that the command line
lists their options without starting JAX. The fields are RLHF's own: `task`, `num_updates`,
`responses_per_update`, `num_blocks` and `width` of the transformer (none of the control
configs' environment fields is reused with another meaning).

Two tasks: `"digits"`, the synthetic language with a hidden true reward and a learned reward
model (`pgjax.rlhf.task`), and `"sort"`, a verifiable reward: the answer is checked exactly, no
reward model is trained (`pgjax.rlhf.verifiable`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from pgjax.training.config import Config, ConfigError, hyperparameter, static

TASKS = ("digits", "sort")  # `pgjax.rlhf.task` (learned reward), `pgjax.rlhf.verifiable`
# The reward-model stage and the hidden true reward exist only for "digits".
REWARD_MODEL_FIELDS = (
    "target_length",
    "preference_pairs",
    "reward_model_epochs",
    "reward_model_batch_size",
    "reward_model_learning_rate",
    "preference_noise",
)
SURROGATES = ("ppo_clip", "gspo", "cispo")
CORRECTIONS = ("none", "truncated_is", "mask")
AGGREGATIONS = ("mean", "seq_mean_token_mean", "seq_mean_token_sum", "constant_normalizer")


@dataclasses.dataclass(frozen=True)
class RLHFConfig(Config):
    """The settings of the whole pipeline; algorithms add their own."""

    task: str = static(
        "digits", "digits: learned reward model; sort: exact verifiable reward", choices=TASKS
    )
    num_updates: int = static(200, "RL updates per seed", at_least=1)
    responses_per_update: int = static(
        64, "responses sampled per update (prompts × group size)", at_least=2
    )
    num_blocks: int = static(2, "transformer blocks", at_least=1)
    width: int = static(64, "the transformer's model width", at_least=1)
    activation: str = static("gelu", "MLP activation", choices=("tanh", "relu", "elu", "gelu"))
    num_heads: int = static(4, "attention heads per block", at_least=1)
    prompt_length: int = static(6, "digits per prompt", at_least=1)
    response_length: int = static(16, "most tokens per response, EOS included", at_least=3)
    target_length: int = static(8, "the hidden true reward's preferred response length", at_least=1)
    pretrain_steps: int = static(400, "Adam steps of the reference's pretraining", at_least=1)
    pretrain_batch_size: int = static(64, "sequences per pretraining step", at_least=1)
    preference_pairs: int = static(2048, "labelled pairs the reward model learns from", at_least=1)
    reward_model_epochs: int = static(4, "passes over the pairs", at_least=1)
    reward_model_batch_size: int = static(64, "pairs per reward-model step", at_least=1)
    num_epochs: int = static(4, "RL: passes over each batch of responses", at_least=1)
    num_minibatches: int = static(4, "RL: minibatches per epoch", at_least=1)
    pretrain_learning_rate: float = hyperparameter(3e-3, "pretraining peak learning rate", above=0)
    reward_model_learning_rate: float = hyperparameter(1e-3, "reward-model learning rate", above=0)
    preference_noise: float = hyperparameter(
        1.0, "τ of the labels' Bradley-Terry noise: P(a ≻ b) = σ((r*_a − r*_b)/τ)", above=0
    )
    learning_rate: float = hyperparameter(3e-4, "RL learning rate (Adam, constant)", above=0)
    max_grad_norm: float = hyperparameter(1.0, "gradient clipping (global norm)", above=0)
    temperature: float = hyperparameter(1.0, "sampling temperature of the policy", above=0)
    clip_eps: float = hyperparameter(0.2, "clip ε of the ratio", at_least=0)
    kl_coef: float = hyperparameter(0.05, "β, the weight of KL(π ‖ π_ref)", at_least=0)

    @property
    def environment(self) -> str:
        return self.task

    @property
    def steps_per_update(self) -> int:
        """Response token slots sampled per update."""
        return self.responses_per_update * self.response_length

    @property
    def verifiable(self) -> bool:
        """Whether the reward is an exact check (no reward model, accuracy is the metric)."""
        return self.task == "sort"

    def task_spec(self):
        """The task's sizes and rules (`pgjax.rlhf.task.Task` or
        `pgjax.rlhf.verifiable.SortTask`)."""
        if self.verifiable:
            from pgjax.rlhf.verifiable import SortTask

            return SortTask(self.prompt_length, self.response_length)
        from pgjax.rlhf.task import Task

        return Task(self.prompt_length, self.response_length, self.target_length)

    def model(self):
        """The transformer every stage uses (`pgjax.rlhf.model.Transformer`)."""
        from pgjax.rlhf.model import Transformer
        from pgjax.rlhf.task import VOCAB_SIZE

        sequence_length = self.task_spec().sequence_length
        return Transformer(
            VOCAB_SIZE,
            sequence_length,
            self.width,
            self.num_blocks,
            self.num_heads,
            self.activation,
        )

    def check(self) -> None:
        super().check()
        if self.width % self.num_heads:
            raise ConfigError(
                f"num_heads={self.num_heads} must divide the width {self.width}.", "num_heads"
            )
        if self.verifiable:
            for name in REWARD_MODEL_FIELDS:
                self.refuse_unused(name, f"task={self.task!r} has no reward model")
            if self.response_length < self.prompt_length + 2:
                raise ConfigError(
                    f"response_length must be >= prompt_length + 2 = {self.prompt_length + 2} "
                    f"for task={self.task!r} (the answer, its EOS and room to run on), got "
                    f"{self.response_length}.",
                    "response_length",
                )
        elif not 1 <= self.target_length <= self.response_length - 2:
            raise ConfigError(
                f"target_length must be in [1, response_length - 2] = "
                f"[1, {self.response_length - 2}] (room for longer responses and their EOS), "
                f"got {self.target_length}.",
                "target_length",
            )
        for total, part, name in (
            (self.responses_per_update, self.num_minibatches, "num_minibatches"),
            (self.preference_pairs, self.reward_model_batch_size, "reward_model_batch_size"),
        ):
            if total % part and not (self.verifiable and name == "reward_model_batch_size"):
                raise ConfigError(f"{name}={part} must divide {total}.", name)


@dataclasses.dataclass(frozen=True)
class PPOConfig(RLHFConfig):
    """RLHF-PPO settings."""

    SUMMARY: ClassVar[str] = (
        "RLHF: PPO with a per-token value head, GAE and a KL-shaped reward (Ouyang et al., 2022)"
    )

    adaptive_kl: bool = static(True, "adapt β towards target_kl (Ziegler et al., 2019)")
    kl_coef: float = hyperparameter(0.1, "β, the KL penalty per token (initial value)", at_least=0)
    gamma: float = hyperparameter(1.0, "discount over the tokens", at_least=0, at_most=1)
    gae_lambda: float = hyperparameter(0.95, "GAE λ over the tokens", at_least=0, at_most=1)
    value_coef: float = hyperparameter(0.1, "value loss coefficient", at_least=0)
    target_kl: float = hyperparameter(3.0, "target KL(π ‖ π_ref) per response, nats", above=0)
    kl_horizon: float = hyperparameter(
        1000.0, "responses over which β may change by ±20% (the controller's horizon)", above=0
    )

    def check(self) -> None:
        super().check()
        if self.adaptive_kl and self.kl_coef == 0:
            raise ConfigError(
                "kl_coef=0 with adaptive_kl: the controller scales β, so it would stay 0; "
                "give kl_coef > 0, or adaptive_kl false for no KL penalty.",
                "kl_coef",
            )
        if not self.adaptive_kl:
            for name in ("target_kl", "kl_horizon"):
                self.refuse_unused(name, "adaptive_kl is false")


@dataclasses.dataclass(frozen=True)
class GroupConfig(RLHFConfig):
    """What the group algorithms share (GRPO, Dr. GRPO, RLOO, DAPO, GSPO, CISPO): groups of
    responses, a choice of token aggregation, the pieces DAPO adds (clip-higher, dynamic
    sampling, the soft overlong penalty; any of them usable by the others), and sampling from
    a stale policy with its correction."""

    ESTIMATOR: ClassVar[str]  # the advantage: "grpo", "dr_grpo" or "rloo"
    SURROGATE: ClassVar[str] = "ppo_clip"  # the policy loss, one of SURROGATES

    group_size: int = static(8, "G, responses per prompt", at_least=2)
    loss_aggregation: str = static(
        "seq_mean_token_mean", "how token losses are reduced", choices=AGGREGATIONS
    )
    std_ddof: int = static(
        1, "the group std divides by G − ddof (GRPO's estimator)", choices=(0, 1)
    )
    clip_eps_high: float = hyperparameter(
        0.2, "ε_high, the ratio's upper clip (clip-higher when > clip_eps)", at_least=0
    )
    dynamic_sampling: bool = static(False, "DAPO: mask out the groups whose rewards are all equal")
    overlong_buffer: int = static(
        0, "DAPO's soft overlong penalty over the last L_cache tokens (0: off)", at_least=0
    )
    rollout_lag: int = static(
        0, "k: sample with the parameters of k updates ago (stale rollouts)", at_least=0
    )
    rollout_correction: str = static(
        "none", "what the learner does about a stale sampler", choices=CORRECTIONS
    )
    is_cap: float = hyperparameter(2.0, "C of truncated importance sampling", above=0)
    mask_low: float = hyperparameter(0.5, "lowest ratio π/μ a token keeps (mask)", at_least=0)
    mask_high: float = hyperparameter(2.0, "highest ratio π/μ a token keeps (mask)", above=0)

    def check(self) -> None:
        super().check()
        if self.responses_per_update % self.group_size:
            raise ConfigError(
                f"group_size={self.group_size} must divide responses_per_update="
                f"{self.responses_per_update} (the responses of an update are whole groups).",
                "group_size",
            )
        if self.ESTIMATOR != "grpo":
            self.refuse_unused("std_ddof", f"the {self.ESTIMATOR} advantage has no std")
        if self.overlong_buffer >= self.response_length:
            raise ConfigError(
                f"overlong_buffer={self.overlong_buffer} must be below response_length="
                f"{self.response_length} (the penalty ramps over the last tokens of R − 1).",
                "overlong_buffer",
            )
        if self.rollout_correction != "truncated_is":
            self.refuse_unused("is_cap", "rollout_correction is not 'truncated_is'")
        if self.rollout_correction != "mask":
            for name in ("mask_low", "mask_high"):
                self.refuse_unused(name, "rollout_correction is not 'mask'")
        elif self.mask_low > self.mask_high:
            raise ConfigError(
                f"mask_low={self.mask_low} must not exceed mask_high={self.mask_high}.",
                "mask_low",
            )


@dataclasses.dataclass(frozen=True)
class GRPOConfig(GroupConfig):
    """GRPO: group-normalised advantages, the k3 KL in the loss (Shao et al., 2024)."""

    ESTIMATOR: ClassVar[str] = "grpo"
    SUMMARY: ClassVar[str] = (
        "RLHF: group-normalised advantages, k3 KL in the loss, sequence-mean of token-means "
        "(Shao et al., 2024)"
    )

    # β = 0.3, not DeepSeekMath's 0.04: on this task 0.1 let the KL drift past 7 nats per
    # response in 200 updates, 0.3 held it near 2 (benchmarks/rlhf_study.py).
    kl_coef: float = hyperparameter(0.3, "β, the weight of the k3 KL loss", at_least=0)


@dataclasses.dataclass(frozen=True)
class DrGRPOConfig(GroupConfig):
    """Dr. GRPO: group-centred advantages, token sums over a constant (Liu et al., 2025)."""

    ESTIMATOR: ClassVar[str] = "dr_grpo"
    SUMMARY: ClassVar[str] = (
        "RLHF: group-centred advantages, token sums over a constant (Liu et al., 2025)"
    )

    kl_coef: float = hyperparameter(0.3, "β, the weight of the k3 KL loss", at_least=0)
    loss_aggregation: str = static(
        "constant_normalizer", "how token losses are reduced", choices=AGGREGATIONS
    )


@dataclasses.dataclass(frozen=True)
class RLOOConfig(GroupConfig):
    """RLOO: the leave-one-out baseline, the KL in the reward (Ahmadian et al., 2024)."""

    ESTIMATOR: ClassVar[str] = "rloo"
    SUMMARY: ClassVar[str] = (
        "RLHF: leave-one-out baseline, KL in the reward, sequence-mean of token-sums "
        "(Ahmadian et al., 2024)"
    )

    kl_coef: float = hyperparameter(0.1, "β, the KL penalty in the reward", at_least=0)
    loss_aggregation: str = static(
        "seq_mean_token_sum", "how token losses are reduced", choices=AGGREGATIONS
    )


@dataclasses.dataclass(frozen=True)
class DAPOConfig(GroupConfig):
    """DAPO: GRPO's advantages with clip-higher, a token-level mean, dynamic sampling and the
    soft overlong penalty, no KL term (Yu et al., 2025, https://arxiv.org/abs/2503.14476)."""

    ESTIMATOR: ClassVar[str] = "grpo"
    SUMMARY: ClassVar[str] = (
        "RLHF: clip-higher, token-level mean, dynamic sampling, soft overlong penalty, no KL "
        "(Yu et al., 2025)"
    )

    kl_coef: float = hyperparameter(0.0, "β, the weight of the k3 KL loss (DAPO: none)", at_least=0)
    clip_eps_high: float = hyperparameter(
        0.28, "ε_high, the ratio's upper clip (clip-higher when > clip_eps)", at_least=0
    )
    loss_aggregation: str = static("mean", "how token losses are reduced", choices=AGGREGATIONS)
    dynamic_sampling: bool = static(True, "DAPO: mask out the groups whose rewards are all equal")
    overlong_buffer: int = static(
        4, "DAPO's soft overlong penalty over the last L_cache tokens (0: off)", at_least=0
    )


@dataclasses.dataclass(frozen=True)
class GSPOConfig(GroupConfig):
    """GSPO: one length-normalised importance ratio per response, clipped, no KL term (Zheng
    et al., 2025, https://arxiv.org/abs/2507.18071)."""

    ESTIMATOR: ClassVar[str] = "grpo"
    SURROGATE: ClassVar[str] = "gspo"
    SUMMARY: ClassVar[str] = (
        "RLHF: one length-normalised ratio per response, clipped, no KL (Zheng et al., 2025)"
    )

    kl_coef: float = hyperparameter(0.0, "β, the weight of the k3 KL loss (GSPO: none)", at_least=0)
    clip_eps: float = hyperparameter(3e-4, "ε_low of the sequence ratio (GSPO: 3e-4)", at_least=0)
    clip_eps_high: float = hyperparameter(
        4e-4, "ε_high of the sequence ratio (GSPO: 4e-4)", at_least=0
    )
    loss_aggregation: str = static("mean", "the mean over responses", choices=("mean",))


@dataclasses.dataclass(frozen=True)
class CISPOConfig(GroupConfig):
    """CISPO: REINFORCE weighted by the clipped, stop-gradient importance ratio, no KL term
    (MiniMax, 2025, https://arxiv.org/abs/2506.13585)."""

    ESTIMATOR: ClassVar[str] = "grpo"
    SURROGATE: ClassVar[str] = "cispo"
    SUMMARY: ClassVar[str] = (
        "RLHF: REINFORCE weighted by the clipped stop-gradient ratio, token-level mean, no KL "
        "(MiniMax, 2025)"
    )

    kl_coef: float = hyperparameter(
        0.0, "β, the weight of the k3 KL loss (CISPO: none)", at_least=0
    )
    # ε_low = 1 puts no lower bound on the weight (ρ > 0), as the paper has it; the paper tunes
    # ε_high without a value to copy: 1 bounds the weight at 2.
    clip_eps: float = hyperparameter(1.0, "ε_low of the weight (1: no lower bound)", at_least=0)
    clip_eps_high: float = hyperparameter(1.0, "ε_high of the weight", at_least=0)
    loss_aggregation: str = static("mean", "how token losses are reduced", choices=AGGREGATIONS)
