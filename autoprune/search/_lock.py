"""One writer per run directory: an advisory lock held for the whole search.

``fcntl.flock`` on ``<run_dir>/.autoprune.lock``: the kernel releases it when the
process dies (SIGKILL included), so a stale lock never blocks a resume, and a second
search or resume on a live run fails at once instead of marking the first one's running
trial FAIL.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from autoprune.errors import ConfigError

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = ".autoprune.lock"


class RunLockedError(ConfigError):
    """Another live process runs a search in this run directory."""


class RunLock:
    """The lock of ``run_dir``; :meth:`acquire` creates the directory.

    Example:
        >>> import tempfile
        >>> with RunLock(tempfile.mkdtemp()):
        ...     pass
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`RunLockedError` naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(
                f"run directory {str(self.path.parent)!r} is being run by process {holder}; wait for it to "
                f"finish or pass --out DIR for a new run."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
