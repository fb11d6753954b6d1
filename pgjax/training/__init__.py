"""The blocks algorithms are built from: configurations (`config`), the algorithm interface
(`algorithm`), shared types (`types`), networks, rollouts, recurrent policies' sequence machinery
(`recurrent`), optimisers, the on- and off-policy machinery, the replay buffer, evaluation, and
many runs across devices (`parallel`).

What runs an algorithm (run directories, checkpoints, the chunked and asynchronous engines, the
registry) is the layer above the algorithms: `pgjax.runs`.
"""
