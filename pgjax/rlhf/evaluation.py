"""Evaluating RLHF runs: the final policy against the reference on fresh prompts, the reward
model's held-out accuracy, and sample responses as text.

Both the policy and its reference are scored by the run's own reward model and measured against
the run's own reference (`pgjax.rlhf.pipeline.response_metrics`); the reference's KL is 0.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from pgjax.rlhf.pipeline import RLHFConfig, RLHFState, act, rollout
from pgjax.rlhf.reward_model import preference_accuracy, score
from pgjax.rlhf.task import decode, sample_prompts, true_reward
from pgjax.training.types import Metrics


def evaluate(config: RLHFConfig, state: RLHFState, params, key, num_prompts: int) -> Metrics:
    """`response_metrics` of `params` (the policy, or `state.reference`) on `num_prompts` fresh
    prompts, one sampled response each."""
    config = dataclasses.replace(config, num_envs=num_prompts)
    return rollout(config, state, params, key)[1]


def evaluate_runs(config: RLHFConfig, states: RLHFState, key, num_prompts: int) -> dict:
    """Every run's final policy and reference on the same fresh prompts, and its reward model's
    held-out pairwise accuracy (on `num_prompts` fresh pairs).

    Args:
      states: run states with a leading run axis (as the driver returns them).

    Returns:
      `{"policy": metrics, "reference": metrics, "reward_model_accuracy": [R]}`, every metric
      `[R]`.
    """

    def one(state: RLHFState, key):
        sample_key, pair_key = jax.random.split(key)
        model, task = config.model(), config.task()
        return {
            "policy": evaluate(config, state, state.params, sample_key, num_prompts),
            "reference": evaluate(config, state, state.reference, sample_key, num_prompts),
            "reward_model_accuracy": preference_accuracy(
                model, state.reward_model, task, pair_key, num_prompts
            ),
        }

    num_runs = jax.tree.leaves(states.kl_coef)[0].shape[0]
    return jax.jit(jax.vmap(one))(states, jax.random.split(key, num_runs))


def sample_table(
    config: RLHFConfig, states: RLHFState, labels, num_prompts: int = 8, seed: int = 0
) -> str:
    """A markdown table: for `num_prompts` fixed prompts, the first run's reference response
    and every run's final policy response (sampled at the run's temperature), each with its
    reward-model score and hidden true reward; `labels` name the runs (e.g. "seed 0")."""
    task, model = config.task(), config.model()
    prompt_key, sample_key = jax.random.split(jax.random.key(seed))
    prompts = sample_prompts(task, prompt_key, num_prompts)

    def respond(state: RLHFState, params):
        responses = act(config, state._replace(params=params), prompts, sample_key, False)
        return responses, score(model, state.reward_model, prompts, responses)

    def one(state: RLHFState):
        return respond(state, state.reference), respond(state, state.params)

    (ref_tokens, ref_scores), (tokens, scores) = jax.jit(jax.vmap(one))(states)
    columns = [(f"reference ({labels[0]})", ref_tokens[0], ref_scores[0])]
    columns += [(f"policy, {label}", tokens[i], scores[i]) for i, label in enumerate(labels)]
    lines = [
        "Responses to the same prompts, each `response` (reward-model score / hidden true "
        "reward). `^` BOS, `|` SEP (end of prompt), `$` EOS.",
        "",
        "| prompt | " + " | ".join(name for name, _, _ in columns) + " |",
        "| :-- |" + " :-- |" * len(columns),
    ]
    for i in range(num_prompts):
        cells = [f"`{decode(prompts[i])}`"]
        for _, toks, scores in columns:
            truth = float(true_reward(task, prompts[i : i + 1], toks[i : i + 1])[0])
            cells.append(f"`{decode(toks[i])}` ({float(np.asarray(scores)[i]):.2f} / {truth:.1f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
