"""`pgjax.runs.registry` and the run record: algorithms found by name (pgjax's own without
importing JAX, registered ones, plugins), and run directories of an older pgjax read or
refused in one line naming that version."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pgjax.algorithms.ppo import PPO
from pgjax.rlhf.config import GRPOConfig
from pgjax.runs import registry, rundir
from pgjax.runs.record import read_run
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import ConfigError


def test_pgjaxs_own_algorithms_are_listed_and_described_without_importing_jax():
    code = (
        "import sys\n"
        "from pgjax.runs import registry\n"
        "from pgjax.cli.control import parser\n"
        "names = registry.names()\n"
        "summaries = [registry.summary(n) for n in names]\n"
        "parser('ppo'); parser('impala')\n"
        "print(names, all(summaries), 'jax' in sys.modules, 'numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("True False False"), out.stdout
    assert "'ppo'" in out.stdout and "'rlhf-grpo'" in out.stdout


def test_register_adds_a_name_and_refuses_to_take_one_silently():
    mine = Algorithm("my-ppo", PPO.config_class, PPO.init, PPO.update, PPO.act, "mine")
    try:
        assert registry.register(mine) is mine
        assert registry.get("my-ppo") is mine and "my-ppo" in registry.names("control")
        assert registry.summary("my-ppo") == "mine" and registry.family_of("my-ppo") == "control"
        other = Algorithm("my-ppo", PPO.config_class, PPO.init, PPO.update, PPO.act)
        with pytest.raises(ConfigError, match="already registered"):
            registry.register(other)
        with pytest.raises(ConfigError, match="already registered"):
            registry.register(Algorithm("ppo", PPO.config_class, PPO.init, PPO.update, PPO.act))
        with pytest.raises(TypeError, match="pgjax Algorithm"):
            registry.register("ppo")
        with pytest.raises(ConfigError, match="non-empty word"):
            registry.register(Algorithm("my ppo", PPO.config_class, PPO.init, PPO.update, PPO.act))
    finally:
        registry.unregister("my-ppo")
    with pytest.raises(ConfigError, match="Unknown algorithm 'my-ppo'; choose one of ppo"):
        registry.get("my-ppo")


def test_a_run_written_by_an_older_pgjax_is_refused_naming_that_version(tmp_path):
    # pgjax 0.1.0's RLHF record used the control configs' fields (env_id, num_envs, ...).
    record = {
        "algorithm": "rlhf-grpo",
        "env_id": "digits",
        "seeds": [0],
        "fingerprint": "0" * 16,
        "config": {"env_id": "digits", "num_envs": 64, "hidden_sizes": [64, 64]},
        "hyperparams": None,
        "options": {},
        "versions": {"pgjax": "0.1.0", "jax": "0.10.2"},
    }
    (tmp_path / rundir.CONFIG).write_text(json.dumps(record))
    with pytest.raises(rundir.RunDirectoryError, match=r"written by pgjax 0\.1\.0, whose"):
        read_run(tmp_path)


def test_a_control_run_of_the_previous_format_is_still_read(tmp_path):
    config = PPO.config_class(total_steps=2048)
    record = {
        "algorithm": "ppo",
        "env_id": "CartPole-v1",
        "seeds": [0, 1],
        "fingerprint": config.fingerprint(),
        "config": json.loads(json.dumps(config.to_dict())),
        "hyperparams": None,
        # 0.1.0's options: no eval_episodes (then the default, 10)
        "options": {"chunk_updates": None, "checkpoint_every": 20, "tensorboard": True},
        "versions": {"pgjax": "0.1.0", "jax": "0.10.2"},
    }
    (tmp_path / rundir.CONFIG).write_text(json.dumps(record))
    algorithm, read, _ = read_run(tmp_path)
    assert algorithm is PPO and read == config


def test_rlhf_configs_have_their_own_fields():
    config = GRPOConfig(responses_per_update=32, num_blocks=1, width=32, num_updates=5)
    assert config.environment == "digits" and config.steps_per_update == 32 * 16
    assert config.num_updates == 5 and config.model().num_layers == 1
    for borrowed in ("env_id", "num_envs", "hidden_sizes", "total_steps"):
        assert not hasattr(config, borrowed)
