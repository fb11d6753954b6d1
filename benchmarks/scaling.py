"""Scaling: PPO's environment steps per second as the batch grows, next to the ceiling.

Two axes, on CartPole-v1 with pgjax's default PPO configuration and `num_steps = 128`:

* number of environments per run, 4 → 4096 (one seed);
* number of seeds trained at once with `jax.vmap`, 1 → 256 (4 environments each).

At each size, the steady-state rate of the compiled `train` (compilation excluded: it is timed
and reported apart) is set beside the raw environment-stepping ceiling at the same size: random
actions through the same `pgjax.envs.make_env` wrappers, a `lax.scan` over steps (and a `vmap`
over seeds for the seeds axis), no network, no learning. The gap is what the learning costs.

Every call does about the same number of environment steps (`2**16`, at least one update), so
each point takes seconds. Nothing here is CPU-specific: on a GPU the same code measures it.
"""

from __future__ import annotations

from pathlib import Path

NAME = "scaling"
ENV_ID = "CartPole-v1"
NUM_STEPS = 128
NUM_ENVS = (4, 16, 64, 256, 1024, 4096)
NUM_SEEDS = (1, 4, 16, 64, 256)
SEED_AXIS_ENVS = 4
STEPS_PER_CALL = 2**16  # environment steps per timed call (at least one PPO update)
QUICK_NUM_ENVS = (4, 256)
QUICK_NUM_SEEDS = (1, 16)
SMOKE_NUM_ENVS = (4,)  # with SMOKE_NUM_SEEDS: one point on each axis, (4, 1) on both
SMOKE_NUM_SEEDS = (1, 2)
SMOKE_STEPS_PER_CALL = 1  # one update per call


def _num_updates(num_envs: int, num_seeds: int, steps_per_call: int) -> int:
    return max(1, steps_per_call // (num_envs * num_seeds * NUM_STEPS))


def _ppo_point(num_envs: int, num_seeds: int, repeats: int, steps_per_call: int) -> dict:
    """Steady-state env steps/s of PPO training `num_seeds` vmapped seeds of `num_envs` envs."""
    import jax

    from benchmarks.common import time_compile_and_run
    from pgjax.algorithms.ppo import PPO, PPOConfig

    num_updates = _num_updates(num_envs, num_seeds, steps_per_call)
    config = PPOConfig.for_env(
        ENV_ID,
        num_envs=num_envs,
        num_steps=NUM_STEPS,
        total_steps=num_updates * num_envs * NUM_STEPS,
    )
    train = PPO.make_train(config)
    if num_seeds == 1:
        fn, keys = train, jax.random.key(0)
    else:
        fn, keys = jax.vmap(train), jax.random.split(jax.random.key(0), num_seeds)
    timing = time_compile_and_run(fn, keys, repeats=repeats, warmup=1)
    steps = num_seeds * config.num_updates * config.steps_per_update
    return {
        "steps_per_call": steps,
        "num_updates": config.num_updates,
        "compile_s": timing.compile_s,
        "run_s": timing.run_s,
        "steps_per_s": steps / timing.run_s,
    }


def _env_point(num_envs: int, num_seeds: int, num_steps: int, repeats: int) -> dict:
    """Steady-state env steps/s of random actions through the same wrappers, no learning."""
    import jax
    import jax.numpy as jnp

    from benchmarks.common import time_compile_and_run
    from pgjax.envs import make_env

    env = make_env(ENV_ID, num_envs)
    if not env.spec.discrete:
        raise ValueError(f"{ENV_ID}: the ceiling samples discrete actions only.")

    def rollout(key):
        reset_key, key = jax.random.split(key)
        _, state = env.reset(reset_key)

        def step(carry, step_key):
            state, obs_sum, reward_sum = carry
            action_key, env_key = jax.random.split(step_key)
            action = jax.random.randint(action_key, (num_envs,), 0, env.spec.action_dim)
            obs, state, reward, _, _, _ = env.step(env_key, state, action)
            # Everything the step computes is used, so XLA cannot drop any of it.
            return (state, obs_sum + obs.sum(), reward_sum + reward.sum()), None

        carry = (state, jnp.float32(0.0), jnp.float32(0.0))
        (_, obs_sum, reward_sum), _ = jax.lax.scan(step, carry, jax.random.split(key, num_steps))
        return obs_sum + reward_sum

    if num_seeds == 1:
        fn, keys = rollout, jax.random.key(1)
    else:
        fn, keys = jax.vmap(rollout), jax.random.split(jax.random.key(1), num_seeds)
    timing = time_compile_and_run(fn, keys, repeats=repeats, warmup=1)
    steps = num_seeds * num_envs * num_steps
    return {
        "steps_per_call": steps,
        "compile_s": timing.compile_s,
        "run_s": timing.run_s,
        "steps_per_s": steps / timing.run_s,
    }


def _measure(num_envs: int, num_seeds: int, repeats: int, steps_per_call: int) -> dict:
    ppo = _ppo_point(num_envs, num_seeds, repeats, steps_per_call)
    num_steps = ppo["num_updates"] * NUM_STEPS
    env = _env_point(num_envs, num_seeds, num_steps, repeats)
    point = {"num_envs": num_envs, "num_seeds": num_seeds, "ppo": ppo, "env_only": env}
    print(
        f"  envs={num_envs:5d} seeds={num_seeds:4d}: PPO {ppo['steps_per_s']:12,.0f} steps/s "
        f"(compile {ppo['compile_s']:.1f} s), env only {env['steps_per_s']:14,.0f} steps/s",
        flush=True,
    )
    return point


def _rows(points: list[dict], axis: str) -> list[list[str]]:
    from benchmarks.common import format_rate, format_seconds

    rows = []
    for p in points:
        ppo, env = p["ppo"], p["env_only"]
        rows.append(
            [
                str(p[axis]),
                f"{p['num_seeds'] * p['num_envs']:,}",
                format_rate(ppo["steps_per_s"]),
                format_rate(env["steps_per_s"]),
                f"{100 * ppo['steps_per_s'] / env['steps_per_s']:.1f}%",
                format_seconds(ppo["compile_s"]),
                format_seconds(ppo["run_s"]),
            ]
        )
    return rows


def plot(envs_points: list[dict], seeds_points: list[dict], title: str, path: Path) -> Path:
    """Log-log plot of env steps/s on both axes: PPO next to the env-stepping ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120, sharey=True)
    panels = (
        (axes[0], envs_points, "num_envs", "environments (1 seed)"),
        (axes[1], seeds_points, "num_seeds", f"vmapped seeds ({SEED_AXIS_ENVS} envs each)"),
    )
    for ax, points, key, label in panels:
        x = [p[key] for p in points]
        ax.plot(x, [p["env_only"]["steps_per_s"] for p in points], "s--", label="env only")
        ax.plot(x, [p["ppo"]["steps_per_s"] for p in points], "o-", label="PPO training")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    axes[0].set_ylabel("environment steps / s")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    import jax

    from benchmarks.common import device_label, machine_info, markdown_table, result

    num_envs = SMOKE_NUM_ENVS if smoke else QUICK_NUM_ENVS if quick else NUM_ENVS
    num_seeds = SMOKE_NUM_SEEDS if smoke else QUICK_NUM_SEEDS if quick else NUM_SEEDS
    steps_per_call = SMOKE_STEPS_PER_CALL if smoke else STEPS_PER_CALL
    repeats = 1 if quick or smoke else 3
    print(f"scaling on {jax.default_backend()}: envs {num_envs}, seeds {num_seeds}", flush=True)
    points = {}  # (num_envs, num_seeds) -> measurement; (4, 1) lies on both axes

    def measure(envs: int, seeds: int) -> dict:
        if (envs, seeds) not in points:
            points[envs, seeds] = _measure(envs, seeds, repeats, steps_per_call)
        return points[envs, seeds]

    envs_points = [measure(n, 1) for n in num_envs]
    seeds_points = [measure(SEED_AXIS_ENVS, s) for s in num_seeds]

    headers = [
        "",
        "total envs",
        "PPO steps/s",
        "env-only steps/s",
        "PPO / env-only",
        "PPO compile",
        "PPO call",
    ]
    table = "\n\n".join(
        [
            "**PPO env steps/s vs number of environments (1 seed)**",
            markdown_table(["num_envs", *headers[1:]], _rows(envs_points, "num_envs")),
            f"**PPO env steps/s vs vmapped seeds ({SEED_AXIS_ENVS} envs each)**",
            markdown_table(["seeds", *headers[1:]], _rows(seeds_points, "num_seeds")),
        ]
    )
    files = []
    label = device_label(machine_info())
    if out_dir is not None:
        path = Path(out_dir) / f"scaling-{jax.default_backend()}.png"
        files.append(plot(envs_points, seeds_points, f"pgjax PPO on {ENV_ID} — {label}", path))
    best_envs = max(envs_points, key=lambda p: p["ppo"]["steps_per_s"])
    best_seeds = max(seeds_points, key=lambda p: p["ppo"]["steps_per_s"])
    headline = (
        f"PPO on {ENV_ID}: {envs_points[0]['ppo']['steps_per_s']:,.0f} env steps/s with "
        f"{envs_points[0]['num_envs']} envs, up to {best_envs['ppo']['steps_per_s']:,.0f} with "
        f"{best_envs['num_envs']} envs; {best_seeds['ppo']['steps_per_s']:,.0f} with "
        f"{best_seeds['num_seeds']} vmapped seeds × {SEED_AXIS_ENVS} envs; compile excluded"
    )
    notes = (
        f"Default PPO configuration for {ENV_ID} with num_steps={NUM_STEPS} (4 epochs × 4 "
        "minibatches, 64×64 MLP). Rates are steady state: each point is compiled first (the "
        "`PPO compile` column: tracing + XLA compilation) and then called "
        f"{'once' if repeats == 1 else f'{repeats} times (median)'} after one warm-up call; "
        f"each call does ≈{steps_per_call:,} env steps (at least one update of "
        f"num_envs × {NUM_STEPS}). `env-only` steps the same `make_env` wrappers with uniformly "
        "random actions in a `lax.scan` (vmapped over seeds on the seeds axis): the ceiling "
        "PPO cannot exceed at that size. `PPO call` is the time of one timed call."
    )
    data = {
        "env_id": ENV_ID,
        "num_steps": NUM_STEPS,
        "steps_per_call_target": steps_per_call,
        "repeats": repeats,
        "num_envs_axis": envs_points,
        "num_seeds_axis": seeds_points,
        "seed_axis_envs": SEED_AXIS_ENVS,
    }
    return result(
        NAME,
        table,
        data,
        title="Scaling: PPO env steps/s vs environments and vmapped seeds",
        notes=notes,
        headline=headline,
        files=files,
    )


if __name__ == "__main__":
    import sys

    from benchmarks.run import main

    raise SystemExit(main([NAME, *sys.argv[1:]]))
