"""Where autoprune keeps caches (baselines, sensitivity scans)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$AUTOPRUNE_CACHE_DIR`` if set, else ``~/.cache/autoprune``."""
    path = Path(os.environ.get("AUTOPRUNE_CACHE_DIR") or Path.home() / ".cache" / "autoprune")
    path.mkdir(parents=True, exist_ok=True)
    return path
