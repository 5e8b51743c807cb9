"""Ctrl-C that always reaches the search loop.

Python raises KeyboardInterrupt wherever the main thread happens to be. When that is a
garbage-collection callback (SQLAlchemy registers some), the interpreter only prints
"Exception ignored in ..." and carries on, so the search would ignore the key press. The
handler here also remembers the press, and the loop raises it again at its next safe
point (a trial's report, the next turn of the loop).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["CtrlC"]


class CtrlC:
    """Context manager: while inside, a SIGINT is raised as usual and remembered.

    Example:
        >>> with CtrlC() as ctrl_c:
        ...     ctrl_c.check()  # nothing pressed: returns
    """

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        # only the main thread may set handlers; a handler the user installed stays theirs
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (and perhaps swallowed) since entry."""
        if self.pressed:
            raise KeyboardInterrupt
