"""A policy-gradient algorithm written outside pgjax, from pgjax's blocks: the example README
shows, and the package `tests/runs/test_plugin.py` installs (an entry point in the group
`pgjax.algorithms`) to check that `pgjax train`, `resume` and `evaluate` find it."""

from pgjax_example.vpg import VPG, VPGConfig

__all__ = ["VPG", "VPGConfig"]
