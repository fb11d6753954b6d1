"""The command line (`pgjax train | rlhf | resume | evaluate`): option groups (`options`), one
drive path (`session`), the control and RLHF families' commands and reports (`control`,
`rlhf`), progress bar and plots. `--help` answers without importing JAX."""

from pgjax.cli.main import main

__all__ = ["main"]
