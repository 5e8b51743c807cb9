"""Trackers: where the search controller mirrors a search while it runs (Neptune).

The local record in the run directory is always written; trackers are a mirror and can
never stop the search (see :class:`SafeTracker`). ``import autoprune.tracking`` does not
import the neptune client: :class:`NeptuneTracker` loads it when it is built.
"""

from autoprune.tracking._base import Tracker
from autoprune.tracking._factory import TRACKERS, make_tracker, resolve_tracker
from autoprune.tracking._neptune import (
    NEPTUNE_MODES,
    NeptuneTracker,
    resolve_neptune_mode,
)
from autoprune.tracking._safe import SafeTracker, Trackers, TrackerWarning

__all__ = [
    "Tracker",
    "SafeTracker",
    "Trackers",
    "TrackerWarning",
    "NeptuneTracker",
    "resolve_neptune_mode",
    "NEPTUNE_MODES",
    "make_tracker",
    "resolve_tracker",
    "TRACKERS",
]
