"""The run layer's user errors, in a module that imports nothing heavy (the command line
catches them before JAX or NumPy are imported)."""


class RunDirectoryError(ValueError):
    """A run directory that cannot be used as asked; the message names the file."""
