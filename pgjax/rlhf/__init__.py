"""RLHF in miniature: a language-model policy fine-tuned against a learned reward model, with a
KL term to a reference, by PPO, GRPO, Dr. GRPO or RLOO, every stage a jitted function.

The modules follow the pipeline, each layer importing only those before it:

    task.py           the environment: prompts, the base distribution, the hidden true reward,
                      preference pairs with Bradley-Terry noise (jax only)
    model.py          a small causal transformer (flax): next-token logits and a scalar head,
                      with a key/value cache for decoding
    sampling.py       generation with `lax.scan` (temperature, masks after EOS) and the
                      teacher-forced pass that scores given responses
    pretraining.py    the reference policy: maximum likelihood on the base distribution
    reward_model.py   the reward model: Bradley-Terry loss on labelled pairs, held-out accuracy
    pipeline.py       the config, state, `init` (the two stages above), rollout and evaluation
                      every RL algorithm shares
    ppo.py, grpo.py   the RL algorithms on the `pgjax.training.algorithm` interface, so the
                      driver gives them run directories, progress, checkpoints and resume

    from pgjax.rlhf import ALGORITHMS
    grpo = ALGORITHMS["rlhf-grpo"]
    train = grpo.make_train(grpo.config_class(kl_coef=0.5))
    state, metrics = jax.jit(train)(jax.random.key(0))   # metrics["true_reward"]: [updates]

On the command line: `pgjax rlhf ppo|grpo|dr-grpo|rloo [options]`.
"""

from __future__ import annotations

from pgjax.rlhf.grpo import DR_GRPO, GRPO, RLOO
from pgjax.rlhf.ppo import PPO
from pgjax.training.algorithm import Algorithm

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (PPO, GRPO, DR_GRPO, RLOO)}

__all__ = ["ALGORITHMS"]
