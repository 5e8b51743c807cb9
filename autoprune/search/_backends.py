"""Former home of the search backends, now :mod:`autoprune.search.backends`."""

from autoprune.search.backends import FlamlBackend, OptunaBackend, SearchBackend, make_sampler

__all__ = ["SearchBackend", "OptunaBackend", "FlamlBackend", "make_sampler"]
