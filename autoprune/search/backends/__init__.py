"""Search backends: where recipes come from. The controller owns the ask/tell loop.

Each backend is a :class:`SearchBackend` registered in
:data:`autoprune.registry.BACKENDS` under the name a space's ``backend`` gives, and
translates the search space into its own form itself: :class:`OptunaBackend` into
define-by-run suggestions, :class:`FlamlBackend` into a ``flaml.tune`` config space with
lexicographic objectives and metric constraints.

A third-party backend subclasses :class:`SearchBackend` (``ask`` is the one required
method), declares ``samplers`` / ``default_sampler`` and registers itself::

    from autoprune.registry import BACKENDS
    from autoprune.search.backends import SearchBackend

    @BACKENDS.register("mine")
    class MyBackend(SearchBackend):
        samplers = ("default",)
        default_sampler = "default"

        def ask(self, recipe=None):
            ...
"""

from autoprune.search.backends._base import SearchBackend
from autoprune.search.backends._optuna import OptunaBackend, make_sampler, sample_recipe, trial_params
from autoprune.search.backends._flaml import (  # after optuna: the registry lists optuna first
    FLAML_CONFIG,
    FlamlBackend,
    flaml_config,
    lexico_objectives,
    metric_constraints,
    recipe_from_config,
)

__all__ = [
    "SearchBackend",
    "OptunaBackend",
    "FlamlBackend",
    "make_sampler",
    "sample_recipe",
    "trial_params",
    "FLAML_CONFIG",
    "flaml_config",
    "recipe_from_config",
    "lexico_objectives",
    "metric_constraints",
]
