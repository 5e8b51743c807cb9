"""Trackers: where the search controller mirrors a search while it runs (MLflow, Neptune).

The local record in the run directory is always written; trackers are a mirror and can
never stop the search (see :class:`SafeTracker`). ``import autoprune.tracking`` does not
import the neptune or mlflow client: :class:`NeptuneTracker` and :class:`MlflowTracker`
load theirs when they are built.
"""

from autoprune.tracking._base import Tracker
from autoprune.tracking._factory import TRACKERS, make_tracker, resolve_tracker
from autoprune.tracking._mlflow import MlflowTracker, default_tracking_uri
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
    "MlflowTracker",
    "default_tracking_uri",
    "resolve_neptune_mode",
    "NEPTUNE_MODES",
    "make_tracker",
    "resolve_tracker",
    "TRACKERS",
]
