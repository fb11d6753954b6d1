"""The control algorithms, one file each, all on the interface of `pgjax.training.algorithm`;
their configurations in `configs.py` (which imports no JAX).

    from pgjax.algorithms.ppo import PPO, PPOConfig
    train = PPO.make_train(PPOConfig.for_env("CartPole-v1"))
    state, metrics = jax.jit(train)(jax.random.key(0))

The registry that finds them by name (`pgjax train ppo`) is `pgjax.runs.registry`, in the layer
that runs them.
"""
