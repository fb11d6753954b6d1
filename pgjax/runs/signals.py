"""Stop requests: SIGINT (Ctrl-C) and SIGTERM during a run."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any


class StopRequests:
    """SIGINT / SIGTERM handlers for as long as the `with` block lasts (main thread only).

    The first signal is recorded (`signal`), and whoever runs the block stops at the next point
    where stopping keeps everything intact (a chunk boundary, the end of compilation; never
    inside a checkpoint or a status write). A second one exits at once, without a checkpoint.
    """

    def __init__(self):
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number, frame) -> None:
        if self.signal is not None:
            print(
                f"\n{signal.Signals(number).name} again: exiting now, without a checkpoint.",
                file=sys.stderr,
                flush=True,
            )
            os._exit(128 + number)
        self.signal = signal.Signals(number).name
