"""RLHF in miniature: a language-model policy fine-tuned against a learned reward model, with a
KL term to a reference, by PPO, GRPO, Dr. GRPO, RLOO, DAPO, GSPO or CISPO, every stage a jitted
function; or against a verifiable reward (an exact check, no reward model).

The modules follow the pipeline, each layer importing only those before it:

    task.py           the environment: prompts, the base distribution, the hidden true reward,
                      preference pairs with Bradley-Terry noise (jax only)
    verifiable.py     the verifiable task: sort the prompt's digits, checked exactly
    model.py          a small causal transformer (flax): next-token logits and a scalar head,
                      with a key/value cache for decoding
    sampling.py       generation with `lax.scan` (temperature, masks after EOS) and the
                      teacher-forced pass that scores given responses
    pretraining.py    the reference policy: maximum likelihood on the base distribution
    reward_model.py   the reward model: Bradley-Terry loss on labelled pairs, held-out accuracy
    pipeline.py       the config, state, `init` (the two stages above), rollout and evaluation
                      every RL algorithm shares
    evaluation.py     the evaluator: policy and reference on fresh prompts, reward-model
                      accuracy, sample responses as text
    ppo.py, grpo.py   the RL algorithms on the `pgjax.training.algorithm` interface, so the
                      run layer gives them run directories, progress, checkpoints and resume;
                      grpo.py holds every group algorithm, DAPO's pieces and stale rollouts

`config.py` holds every configuration (no JAX import).

    from pgjax.rlhf.grpo import GRPO
    from pgjax.rlhf.config import GRPOConfig
    train = GRPO.make_train(GRPOConfig(kl_coef=0.5))
    state, metrics = jax.jit(train)(jax.random.key(0))   # metrics["true_reward"]: [updates]

On the command line: `pgjax rlhf ppo|grpo|dr-grpo|rloo|dapo|gspo|cispo [options]`, and
`--task sort` for the verifiable task.
"""
