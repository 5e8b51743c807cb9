"""The search space: a YAML file -> a validated, frozen :class:`SearchSpace`.

Everything is checked when the file is read, before any training: every mistake raises
:class:`~autoprune.errors.ConfigError` with one line naming the file, the key path and
what is allowed, e.g. ``x.yaml: objectives.acc: 'acc' is not a measure; allowed: ...``.

Layout (every key but ``objectives`` and ``params`` is optional; defaults shown)::

    name: default             # study and run directory name (default: the file's stem)
    task: digits-mlp          # built-in name, pkg.mod:attr or file.py:attr, or a mapping
                              # {kind: hf-text-classification, model: DIR, data: PATH, ...}
    data_dir: null            # for tasks that read files
    seed: 0
    description: ""
    objectives: {accuracy: max, size_bytes: min}   # measure: min|max; order = priority
    constraints: ["accuracy_drop <= 0.01"]         # "MEASURE OP NUMBER", OP in <= >= < >
    budget: {trials: 20, seconds: null}            # at least one; the first reached ends
    backend: optuna           # optuna | flaml
    sampler: tpe              # optuna: tpe nsga2 nsga3 gp random; flaml: cfo blendsearch
                              # (default: tpe for optuna, cfo for flaml)
    trial_pruner: none        # or {name: pareto, percentile: 25, ...}; see below
    flaml: {tolerances: {}, targets: {}}           # lexicographic objectives (flaml only)
    executor: {name: local, workers: 1, cpus_per_trial: 1, gpus_per_trial: 0, address: null}
    device: auto              # where trials train and evaluate: auto | cpu | cuda | cuda:N
    amp: null                 # mixed precision of fine-tuning: null | bf16 | fp16 (CUDA)
    latency: {device: cpu, threads: 1, batch_size: null, warmup: 10, repeats: 50}
    reference_point: {}       # per objective, for the hypervolume (default: 5 points
                              # worse than dense on accuracy axes, 1.0 x dense on others)
    warm_start: []            # recipes tried first, e.g. [{granularity: channel, sparsity: 0.5}]
    fixed: {}                 # recipe fields held constant (never also under params)
    models: front             # models kept in the run directory: front | all (every
                              # complete trial); any other trial is rebuilt on export
    params:                   # recipe fields searched
      granularity: {choices: [unstructured, channel, nm]}
      sparsity: {low: 0.3, high: 0.95}                 # type from the recipe field
      finetune_lr: {low: 1.0e-4, high: 1.0e-2, log: true}
      steps: {low: 2, high: 4, type: int, when: {schedule: [iterative, gradual]}}

Measures (objectives, constraints) are :data:`autoprune.measures.OBJECTIVE_MEASURES`.
Params are :class:`~autoprune.recipe.Recipe` fields; ``choices`` lists values (for text
fields, the names registered in :mod:`autoprune.registry`), a range has ``low < high``, optional ``log: true``
(``low > 0``) or ``step``. ``when: {param: [values]}`` samples a param only when another
categorical param took one of those values (several keys: all must hold); otherwise the
recipe default is used. ``keep_layers`` can only be fixed.

Devices (:mod:`autoprune.devices`): ``device: auto`` trains and evaluates on
``cuda:0`` when CUDA is available, else on the CPU; with Ray, each trial uses the GPU
``gpus_per_trial`` gave it. ``latency.device`` is where latency is measured: the CPU by
default (edge deployment), or CUDA (timed with CUDA events). Neither changes what is
searched, so a resumed search may set them anew.

Trial pruners: ``none``; ``pareto`` (two or more objectives; options percentile,
n_startup_trials, n_warmup_steps, n_min_peers, margin, min_hypervolume_gain,
n_neighbors, neighbor_percentile, size_slope); and Optuna's ``median``,
``hyperband``, ``successive_halving`` (one objective, ``accuracy: max`` or
``accuracy_drop: min``, since they compare the task metric; options are those of the
Optuna class). See :mod:`autoprune.search.trial_pruners`.

FLAML has no Pareto search. With several objectives a FLAML search is lexicographic
(CFO only): the objectives in the order written, each kept within ``flaml.tolerances``
of its best (a number, or a percentage string like ``"5%"``; default 0) before the next
one counts, ``flaml.targets`` being values good enough to stop improving on.

Recipe combinations: a granularity may support only some allocations (``nm`` only
``uniform``: the N:M pattern fixes every layer's amount). A sampled recipe whose
allocation its granularity does not support takes the first supported one (the sampled
allocation would have no effect); a fixed combination that does not fit is an error.
``nm_n < nm_m`` must hold for every value the space can produce, which is checked
statically.

Where it lives: the frozen dataclasses and :func:`parse_space` / :func:`load_space`
here; the schema (pydantic, also exported as JSON Schema) in
:mod:`autoprune.search._schema`; searched fields in :mod:`autoprune.search._params`;
constraints in :mod:`autoprune.search._constraints`; YAML files in
:mod:`autoprune.search._loader`; each backend's translation of the space in
:mod:`autoprune.search.backends`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from autoprune.errors import ConfigError
from autoprune.measure import LatencyConfig
from autoprune.recipe import Recipe
from autoprune.registry import BACKENDS
from autoprune.search._constraints import (
    CONSTRAINT_OPS,
    Constraint,
    constraint_violations,
    is_feasible,
    min_accuracy,
    parse_constraint,
)
from autoprune.search._loader import builtin_spaces, read_space_file
from autoprune.search._pareto import default_reference
from autoprune.search._params import ParamSpec, param_values, recipe_of
from autoprune.search._schema import validate_space
from autoprune.search.trial_pruners import TrialPrunerConfig

__all__ = [
    "CONSTRAINT_OPS",
    "Objective",
    "Constraint",
    "Budget",
    "ParamSpec",
    "ExecutorConfig",
    "FlamlSpec",
    "SearchSpace",
    "load_space",
    "parse_space",
    "builtin_spaces",
    "constraint_violations",
    "is_feasible",
]


@dataclass(frozen=True)
class Objective:
    """A measure to minimise or maximise (``direction`` is ``min`` or ``max``)."""

    name: str
    direction: str

    @property
    def maximize(self) -> bool:
        return self.direction == "max"

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.maximize else "minimize"


@dataclass(frozen=True)
class Budget:
    """When the search ends: after ``trials`` trials or ``seconds``, the first reached."""

    trials: int | None = 20
    seconds: float | None = None


@dataclass(frozen=True)
class ExecutorConfig:
    """Where trials run: ``local`` processes or ``ray`` (``address`` None: start one)."""

    name: str = "local"
    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None


@dataclass(frozen=True)
class FlamlSpec:
    """How several objectives become one for FLAML (lexicographic, in objective order)."""

    tolerances: Mapping[str, float | str] = field(default_factory=dict)
    targets: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space. Build it with :func:`load_space` or :func:`parse_space`.

    Pure data: each backend (:mod:`autoprune.search.backends`) turns its params into its
    own sampling calls.

    Example:
        >>> space = parse_space({
        ...     "objectives": {"accuracy": "max", "size_bytes": "min"},
        ...     "params": {"sparsity": {"low": 0.5, "high": 0.9}},
        ... }, "inline")
        >>> space.recipe({"sparsity": 0.7}).sparsity
        0.7
    """

    objectives: tuple[Objective, ...]
    params: tuple[ParamSpec, ...]
    name: str = "search"
    task: str | Mapping[str, Any] = "digits-mlp"
    data_dir: str | None = None
    seed: int = 0
    description: str = ""
    constraints: tuple[Constraint, ...] = ()
    budget: Budget = Budget()
    backend: str = "optuna"
    sampler: str = "tpe"
    trial_pruner: TrialPrunerConfig = TrialPrunerConfig()
    flaml: FlamlSpec = FlamlSpec()
    executor: ExecutorConfig = ExecutorConfig()
    latency: LatencyConfig = LatencyConfig()
    device: str = "auto"
    amp: str | None = None
    reference: Mapping[str, float] = field(default_factory=dict)
    warm_start: tuple[Recipe, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    models: str = "front"
    source: str = field(default="<dict>", compare=False)

    # --- the search as a whole -------------------------------------------------------

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def directions(self) -> list[str]:
        """Optuna directions (``maximize`` / ``minimize``), in objective order."""
        return [o.optuna_direction for o in self.objectives]

    @property
    def reference_point(self) -> list[float] | None:
        """The hypervolume reference in objective order, or None when the file sets none
        (then :func:`autoprune.search._pareto.default_reference` applies). Objectives the
        file leaves out take their default."""
        if not self.reference:
            return None
        default = default_reference(self.objectives)
        return [float(self.reference.get(o.name, d)) for o, d in zip(self.objectives, default)]

    @property
    def hypervolume_reference(self) -> list[float]:
        """The reference point in effect: :attr:`reference_point`, or the default one."""
        return self.reference_point or [float(v) for v in default_reference(self.objectives)]

    def warm_start_recipes(self) -> list[Recipe]:
        """The recipes to try first (each representable in the space, checked on load)."""
        return list(self.warm_start)

    def min_accuracy(self, baseline_accuracy: float) -> float | None:
        """The lowest task metric the constraints allow (``accuracy`` / ``accuracy_drop``
        bounds), or None: the ``min_value`` of the pareto trial pruner."""
        return min_accuracy(self.constraints, baseline_accuracy)

    def to_dict(self) -> dict[str, Any]:
        """The resolved space in the YAML layout; ``parse_space(to_dict())`` gives it back."""
        fixed = {k: list(v) if isinstance(v, tuple) else v for k, v in self.fixed.items()}
        searched = {p.name for p in self.params}
        # the searched fields say it all: the others were checked equal to fixed / default
        warm = [{k: v for k, v in r.to_dict().items() if k in searched} for r in self.warm_start]
        lat = self.latency
        out = {
            "name": self.name,
            "task": dict(self.task) if isinstance(self.task, Mapping) else self.task,
            "data_dir": self.data_dir,
            "seed": self.seed,
            "description": self.description,
            "objectives": {o.name: o.direction for o in self.objectives},
            "constraints": [str(c) for c in self.constraints],
            "budget": dataclasses.asdict(self.budget),
            "backend": self.backend,
            "sampler": self.sampler,
            "trial_pruner": self.trial_pruner.to_dict(),
            "flaml": {"tolerances": dict(self.flaml.tolerances), "targets": dict(self.flaml.targets)},
            "executor": dataclasses.asdict(self.executor),
            # the key order of the layout before latency was a LatencyConfig; the device
            # only when it is not the CPU, so the layouts stored before it read the same
            "latency": {"threads": lat.threads, "batch_size": lat.batch_size, "warmup": lat.warmup,
                        "repeats": lat.repeats, **({"device": lat.device} if lat.device != "cpu" else {})},
            "reference_point": dict(self.reference),
            "warm_start": warm,
            "fixed": fixed,
            "params": {p.name: p.to_dict() for p in self.params},
            # only when set: layouts stored before these keys existed read the same
            **({"device": self.device} if self.device != "auto" else {}),
            **({"amp": self.amp} if self.amp is not None else {}),
        }
        if self.models != "front":  # the layout of spaces written before the key existed
            out["models"] = self.models
        return out

    def fingerprint(self) -> str:
        """A stable hash of what defines the search (task, objectives, constraints, params,
        fixed, backend, sampler, and flaml's tolerances when on flaml); name, budget, seed,
        executor, latency, reference point, warm starts, trial pruner and models may change
        on resume."""
        d = self.to_dict()
        keys = ["task", "constraints", "params", "fixed", "backend", "sampler"]
        if self.backend == "flaml":  # the space's own layout: flaml's section counts on flaml
            keys.append("flaml")
        payload = {k: d[k] for k in keys}
        payload["objectives"] = [[o.name, o.direction] for o in self.objectives]  # order matters
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_overrides(
        self,
        *,
        task: str | Mapping[str, Any] | None = None,
        data_dir: str | None = None,
        trials: int | None = None,
        seconds: float | None = None,
        seed: int | None = None,
        backend: str | None = None,
        sampler: str | None = None,
        trial_pruner: str | TrialPrunerConfig | None = None,
        device: str | None = None,
        amp: str | None = None,
        latency_device: str | None = None,
        models: str | None = None,
    ) -> SearchSpace:
        """A re-validated copy with CLI flags applied (None: keep the file's value).

        A new ``backend`` without a ``sampler`` takes that backend's default sampler when
        the current one does not fit it; a ``trial_pruner`` given by name drops the
        file's options. ``amp="none"`` turns mixed precision off.
        """
        d = self.to_dict()
        for key, value in (("task", task), ("data_dir", data_dir), ("seed", seed), ("device", device),
                           ("amp", amp), ("models", models)):
            if value is not None:
                d[key] = value
        if latency_device is not None:
            d["latency"]["device"] = latency_device
        if trials is not None:
            d["budget"]["trials"] = trials
        if seconds is not None:
            d["budget"]["seconds"] = seconds
        if backend is not None:
            d["backend"] = backend
            if sampler is None and backend in BACKENDS and d["sampler"] not in BACKENDS.get(backend).samplers:
                d["sampler"] = BACKENDS.get(backend).default_sampler
        if sampler is not None:
            d["sampler"] = sampler
        if isinstance(trial_pruner, TrialPrunerConfig):
            d["trial_pruner"] = trial_pruner.to_dict()
        elif trial_pruner is not None:
            d["trial_pruner"] = trial_pruner
        return parse_space(d, f"{self.source} with overrides")

    # --- recipes -----------------------------------------------------------------------

    def recipe(self, values: Mapping[str, Any]) -> Recipe:
        """The recipe of sampled ``values`` on top of ``fixed`` (a granularity that
        supports only some allocations takes the first of them, see the module
        docstring)."""
        return recipe_of(self.fixed, values)

    def param_values(self, recipe: Recipe) -> dict[str, Any]:
        """The values of the active params that give ``recipe`` (``space.recipe(
        space.param_values(r)) == r``): a warm start or a re-run as a point of the space.

        Raises:
            ConfigError: the recipe differs from the space on a field that is not
                searched, or a searched value is outside its param.
        """
        try:
            return param_values(self.params, self.fixed, recipe)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc}") from None


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search space YAML file, or a built-in one by name.

    Args:
        path: a YAML file, or the name of a shipped space (``default``, ``unstructured``,
            ``structured``, ``full``).

    Raises:
        ConfigError: missing file, malformed YAML (with its line) or an invalid space.

    Example:
        >>> load_space("default").objective_names
        ['accuracy', 'latency_ms', 'size_bytes']
    """
    return parse_space(*read_space_file(path))


def parse_space(data: Mapping[str, Any], source: str = "<dict>") -> SearchSpace:
    """Validate a search space given as a mapping (the YAML layout).

    Args:
        data: the parsed YAML.
        source: where it came from, named in error messages.

    Raises:
        ConfigError: the first problem found, as ``source: key.path: what is allowed``.
    """
    m = validate_space(data, source)
    lat, ex = m.latency, m.executor
    return SearchSpace(
        objectives=tuple(Objective(name, direction) for name, direction in m.objectives.items()),
        params=m.params.specs,
        name=m.name,
        task=m.task,
        data_dir=m.data_dir,
        seed=m.seed,
        description=m.description,
        constraints=tuple(parse_constraint(text) for text in m.constraints),
        budget=Budget(m.budget.trials, m.budget.seconds),
        backend=m.backend,
        sampler=m.resolved_sampler,
        trial_pruner=m.trial_pruner_config,
        flaml=FlamlSpec(dict(m.flaml.tolerances), dict(m.flaml.targets)),
        executor=ExecutorConfig(ex.name, ex.workers, ex.cpus_per_trial, ex.gpus_per_trial, ex.address),
        latency=LatencyConfig(threads=lat.threads, warmup=lat.warmup, repeats=lat.repeats, batch_size=lat.batch_size,
                              device=lat.device),
        reference=dict(m.reference_point),
        warm_start=m.warm_start_recipes,
        fixed=dict(m.fixed),
        device=m.device,
        amp=m.amp,
        models=m.models,
        source=source,
    )

