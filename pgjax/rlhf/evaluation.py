"""Evaluating RLHF runs: the final policy against the reference on fresh prompts, the reward
model's held-out accuracy, and sample responses as text.

Both the policy and its reference are scored by the run's own reward model and measured against
the run's own reference (`pgjax.rlhf.pipeline.response_metrics`); the reference's KL is 0. On a
verifiable task the score is the exact check and the metrics are
`pgjax.rlhf.verifiable.response_metrics` (accuracy); there is no reward model to test.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from pgjax.rlhf.config import RLHFConfig
from pgjax.rlhf.pipeline import RLHFState, act, rollout
from pgjax.rlhf.reward_model import preference_accuracy, score
from pgjax.rlhf.task import decode, sample_prompts, true_reward
from pgjax.rlhf.verifiable import correct
from pgjax.training.types import Metrics


def evaluate_policy(config: RLHFConfig, state: RLHFState, params, key, num_prompts: int) -> Metrics:
    """`response_metrics` of `params` (the policy, or `state.reference`) on `num_prompts` fresh
    prompts, one sampled response each."""
    config = dataclasses.replace(config, responses_per_update=num_prompts)
    return rollout(config, state, params, key)[1]


def make_evaluate(config: RLHFConfig, num_prompts: int, deterministic: bool = True):
    """The RLHF algorithms' evaluator (`pgjax.training.algorithm.Evaluator`): `evaluate(state,
    key) -> metrics` of one run: its final policy and its reference on the same `num_prompts`
    fresh prompts (`policy/...` and `reference/...`, the `response_metrics` names), and its
    reward model's held-out pairwise accuracy on `num_prompts` fresh pairs (not on a verifiable
    task). Responses are
    sampled at the run's temperature whatever `deterministic` says (the study this miniature
    reports is of sampled responses)."""
    del deterministic

    def evaluate(state: RLHFState, key) -> Metrics:
        sample_key, pair_key = jax.random.split(key)
        policy = evaluate_policy(config, state, state.params, sample_key, num_prompts)
        reference = evaluate_policy(config, state, state.reference, sample_key, num_prompts)
        metrics = {
            **{f"policy/{k}": v for k, v in policy.items()},
            **{f"reference/{k}": v for k, v in reference.items()},
        }
        if config.verifiable:
            return metrics
        accuracy = preference_accuracy(
            config.model(), state.reward_model, config.task_spec(), pair_key, num_prompts
        )
        return {**metrics, "reward_model_accuracy": accuracy}

    return evaluate


def sample_table(
    config: RLHFConfig, states: RLHFState, labels, num_prompts: int = 8, seed: int = 0
) -> str:
    """A markdown table: for `num_prompts` fixed prompts, the first run's reference response
    and every run's final policy response (sampled at the run's temperature), each with its
    reward-model score and hidden true reward (on a verifiable task: right or wrong);
    `labels` name the runs (e.g. "seed 0")."""
    task, model = config.task_spec(), config.model()
    prompt_key, sample_key = jax.random.split(jax.random.key(seed))
    prompts = sample_prompts(task, prompt_key, num_prompts)

    def respond(state: RLHFState, params):
        responses = act(config, state._replace(params=params), prompts, sample_key, False)
        if config.verifiable:
            return responses, correct(task, prompts, responses)
        return responses, score(model, state.reward_model, prompts, responses)

    def one(state: RLHFState):
        return respond(state, state.reference), respond(state, state.params)

    (ref_tokens, ref_scores), (tokens, scores) = jax.jit(jax.vmap(one))(states)
    columns = [(f"reference ({labels[0]})", ref_tokens[0], ref_scores[0])]
    columns += [(f"policy, {label}", tokens[i], scores[i]) for i, label in enumerate(labels)]
    legend = (
        "right ✓ or wrong ✗" if config.verifiable else "reward-model score / hidden true reward"
    )
    lines = [
        f"Responses to the same prompts, each `response` ({legend}). `^` BOS, `|` SEP (end of "
        "prompt), `$` EOS.",
        "",
        "| prompt | " + " | ".join(name for name, _, _ in columns) + " |",
        "| :-- |" + " :-- |" * len(columns),
    ]
    for i in range(num_prompts):
        cells = [f"`{decode(prompts[i])}`"]
        for _, toks, scores in columns:
            if config.verifiable:
                cells.append(f"`{decode(toks[i])}` ({'✓' if np.asarray(scores)[i] else '✗'})")
                continue
            truth = float(true_reward(task, prompts[i : i + 1], toks[i : i + 1])[0])
            cells.append(f"`{decode(toks[i])}` ({float(np.asarray(scores)[i]):.2f} / {truth:.1f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
