"""JAX's persistent compilation cache, on by default for the command line and the notebooks.

A training program takes seconds to compile and is the same every time the same command runs,
so a second run (or every run of a sweep after the first) should load it instead:

    from pgjax.runs.compile_cache import enable_compile_cache
    enable_compile_cache()              # ~/.cache/pgjax/jax-compilation-cache, or as configured

Where: the `directory` argument, else the environment variable `PGJAX_COMPILE_CACHE` (a path,
or `off` to turn the cache off), else `$XDG_CACHE_HOME/pgjax/jax-compilation-cache` (default
`~/.cache/...`). Every program is cached, however fast it compiled (evaluation included).
JAX keys each entry on the program, the jax/jaxlib version and the device, so a stale entry is
never used; delete the directory to reclaim the space.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV_VAR = "PGJAX_COMPILE_CACHE"
OFF = ("off", "0", "false", "no", "none")


def default_directory() -> Path:
    """`$XDG_CACHE_HOME/pgjax/jax-compilation-cache` (default `~/.cache/...`)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "pgjax" / "jax-compilation-cache"


def cache_directory(directory: str | Path | None = None) -> Path | None:
    """The directory `enable_compile_cache(directory)` would use (None: the cache is off)."""
    if directory is None:
        directory = os.environ.get(ENV_VAR) or default_directory()
    if str(directory).strip().lower() in OFF:
        return None
    return Path(directory).expanduser()


def enable_compile_cache(directory: str | Path | None = None) -> Path | None:
    """Turns JAX's persistent compilation cache on (see the module docstring for where).

    Returns:
      the cache directory, or None when it is turned off, or when the default directory cannot
      be created (then nothing changes: programs are compiled as usual).

    Raises:
      ValueError: a directory named (`directory` or the environment variable) that cannot be
        created.
    """
    path = cache_directory(directory)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if directory is not None or os.environ.get(ENV_VAR):  # named: say why it cannot be used
            raise ValueError(
                f"cannot use {path} as the compilation cache ({error.strerror or error})."
            ) from None
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
