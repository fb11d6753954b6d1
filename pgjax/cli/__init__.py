"""The command line (`pgjax train | resume | evaluate`): argument parsing, console output,
progress bar, learning-curve plots and evaluation reports over the training driver."""

from pgjax.cli.main import main

__all__ = ["main"]
