"""The search space: a YAML file -> a validated, frozen :class:`SearchSpace`.

Everything is checked when the file is read, before any training: every mistake raises
:class:`~autoprune.errors.ConfigError` with one line naming the file, the key path and
what is allowed, e.g. ``x.yaml: objectives.acc: 'acc' is not a measure; allowed: ...``.

Layout (every key but ``objectives`` and ``params`` is optional; defaults shown)::

    name: default             # study and run directory name (default: the file's stem)
    task: digits-mlp          # built-in name, pkg.mod:attr or file.py:attr
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
    latency: {threads: 1, batch_size: null, warmup: 10, repeats: 50}
    reference_point: {}       # per objective, for the hypervolume (default: 5 points
                              # worse than dense on accuracy axes, 1.0 x dense on others)
    warm_start: []            # recipes tried first, e.g. [{granularity: channel, sparsity: 0.5}]
    fixed: {}                 # recipe fields held constant (never also under params)
    params:                   # recipe fields searched
      granularity: {choices: [unstructured, channel, nm]}
      sparsity: {low: 0.3, high: 0.95}                 # type from the recipe field
      finetune_lr: {low: 1.0e-4, high: 1.0e-2, log: true}
      steps: {low: 2, high: 4, type: int, when: {schedule: [iterative, gradual]}}

Measures (objectives, constraints) are :data:`autoprune.result.OBJECTIVE_MEASURES`.
Params are :class:`~autoprune.recipe.Recipe` fields; ``choices`` lists values (for text
fields, those recipe.py allows), a range has ``low < high``, optional ``log: true``
(``low > 0``) or ``step``. ``when: {param: [values]}`` samples a param only when another
categorical param took one of those values (several keys: all must hold); otherwise the
recipe default is used. ``keep_layers`` can only be fixed.

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

Recipe combinations: ``granularity: nm`` requires ``allocation: uniform`` in the recipe.
When a sampled recipe has ``nm``, its allocation is set to ``uniform`` (the N:M pattern
fixes every layer's amount, so the sampled allocation has no effect); a fixed
``nm`` + non-uniform allocation is an error. ``nm_n < nm_m`` must hold for every value
the space can produce, which is checked statically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from autoprune.errors import ConfigError
from autoprune.recipe import (
    ALLOCATIONS,
    CRITERIA,
    GRANULARITIES,
    LR_SCHEDULES,
    SCHEDULES,
    TIMINGS,
    Recipe,
)
from autoprune.result import OBJECTIVE_MEASURES
from autoprune.search._pareto import default_reference
from autoprune.search.trial_pruners import TrialPrunerConfig, validate_trial_pruner

__all__ = [
    "BACKENDS",
    "DEFAULT_SAMPLERS",
    "EXECUTORS",
    "CONSTRAINT_OPS",
    "Objective",
    "Constraint",
    "Budget",
    "ParamSpec",
    "ExecutorConfig",
    "LatencySpec",
    "FlamlSpec",
    "SearchSpace",
    "load_space",
    "parse_space",
    "builtin_spaces",
    "constraint_violations",
    "is_feasible",
]

#: backend -> the samplers (searchers) it offers
BACKENDS: dict[str, tuple[str, ...]] = {
    "optuna": ("tpe", "nsga2", "nsga3", "gp", "random"),
    "flaml": ("cfo", "blendsearch"),
}
DEFAULT_SAMPLERS = {"optuna": "tpe", "flaml": "cfo"}
EXECUTORS = ("local", "ray")
CONSTRAINT_OPS = ("<=", ">=", "<", ">")
DIRECTIONS = ("min", "max")

_TOP_LEVEL = (
    "name", "task", "data_dir", "seed", "description", "objectives", "constraints", "budget",
    "backend", "sampler", "trial_pruner", "flaml", "executor", "latency", "reference_point",
    "warm_start", "fixed", "params",
)  # fmt: skip
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_OPTUNA_PRUNER_OBJECTIVES = (("accuracy", "max"), ("accuracy_drop", "min"))

_FIELDS = {f.name: str(f.type) for f in dataclasses.fields(Recipe)}  # name -> "int", "str", ...
_DEFAULTS = Recipe().to_dict()
_TEXT_CHOICES = {
    "criterion": CRITERIA,
    "granularity": GRANULARITIES,
    "allocation": ALLOCATIONS,
    "schedule": SCHEDULES,
    "timing": TIMINGS,
    "finetune_schedule": LR_SCHEDULES,
}
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


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
class Constraint:
    """``measure op bound``, e.g. ``accuracy_drop <= 0.01``."""

    measure: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 when satisfied, else how far off (NaN: +inf)."""
        if math.isnan(value):
            return math.inf
        gap = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if gap == 0 and self.op in ("<", ">"):  # strict: equality is a (tiny) violation
            return math.ulp(self.bound)
        return gap

    def __str__(self) -> str:
        return f"{self.measure} {self.op} {self.bound!r}"


@dataclass(frozen=True)
class Budget:
    """When the search ends: after ``trials`` trials or ``seconds``, the first reached."""

    trials: int | None = 20
    seconds: float | None = None


@dataclass(frozen=True)
class ParamSpec:
    """One searched recipe field.

    ``kind`` is ``choice`` (``choices``), ``int`` or ``float`` (``low``..``high``
    inclusive, ``log``, ``step``). ``when`` holds ``(param, allowed values)`` pairs.
    """

    name: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether this param is sampled, given the values sampled before it."""
        return all(name in values and values[name] in allowed for name, allowed in self.when)

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        return isinstance(value, (int, float)) and self.low <= value <= self.high

    def bounds(self) -> tuple[Any, Any]:
        """The smallest and largest value the param can take."""
        if self.kind == "choice":
            return min(self.choices), max(self.choices)
        return self.low, self.high

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            out: dict[str, Any] = {"choices": list(self.choices)}
        else:
            out = {"low": self.low, "high": self.high, "type": self.kind}
            if self.log:
                out["log"] = True
            if self.step is not None:
                out["step"] = self.step
        if self.when:
            out["when"] = {name: list(allowed) for name, allowed in self.when}
        return out


@dataclass(frozen=True)
class ExecutorConfig:
    """Where trials run: ``local`` processes or ``ray`` (``address`` None: start one)."""

    name: str = "local"
    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None


@dataclass(frozen=True)
class LatencySpec:
    """How latency is measured (the fields of :class:`autoprune.trial.LatencyConfig`)."""

    threads: int = 1
    batch_size: int | None = None
    warmup: int = 10
    repeats: int = 50

    def to_config(self) -> Any:
        """As :class:`autoprune.trial.LatencyConfig`."""
        from autoprune.trial import LatencyConfig

        return LatencyConfig(**dataclasses.asdict(self))


@dataclass(frozen=True)
class FlamlSpec:
    """How several objectives become one for FLAML (lexicographic, in objective order)."""

    tolerances: Mapping[str, float | str] = field(default_factory=dict)
    targets: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space. Build it with :func:`load_space` or :func:`parse_space`.

    Example:
        >>> space = parse_space({
        ...     "objectives": {"accuracy": "max", "size_bytes": "min"},
        ...     "params": {"sparsity": {"low": 0.5, "high": 0.9}},
        ... }, "inline")
        >>> import optuna
        >>> space.sample_optuna(optuna.trial.FixedTrial({"sparsity": 0.7})).sparsity
        0.7
    """

    objectives: tuple[Objective, ...]
    params: tuple[ParamSpec, ...]
    name: str = "search"
    task: str = "digits-mlp"
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
    latency: LatencySpec = LatencySpec()
    reference: Mapping[str, float] = field(default_factory=dict)
    warm_start: tuple[Recipe, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
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
        bars = []
        for c in self.constraints:
            if c.measure == "accuracy" and c.op in (">=", ">"):
                bars.append(c.bound)
            elif c.measure == "accuracy_drop" and c.op in ("<=", "<"):
                bars.append(baseline_accuracy - c.bound)
        return max(bars) if bars else None

    def to_dict(self) -> dict[str, Any]:
        """The resolved space in the YAML layout; ``parse_space(to_dict())`` gives it back."""
        fixed = {k: list(v) if isinstance(v, tuple) else v for k, v in self.fixed.items()}
        searched = {p.name for p in self.params}
        # the searched fields say it all: the others were checked equal to fixed / default
        warm = [{k: v for k, v in r.to_dict().items() if k in searched} for r in self.warm_start]
        return {
            "name": self.name,
            "task": self.task,
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
            "latency": dataclasses.asdict(self.latency),
            "reference_point": dict(self.reference),
            "warm_start": warm,
            "fixed": fixed,
            "params": {p.name: p.to_dict() for p in self.params},
        }

    def fingerprint(self) -> str:
        """A stable hash of what defines the search (task, objectives, constraints, params,
        fixed, backend, sampler, and flaml's tolerances when on flaml); name, budget, seed,
        executor, latency, reference point, warm starts and trial pruner may change on
        resume."""
        d = self.to_dict()
        keys = ["task", "constraints", "params", "fixed", "backend", "sampler"]
        if self.backend == "flaml":
            keys.append("flaml")
        payload = {k: d[k] for k in keys}
        payload["objectives"] = [[o.name, o.direction] for o in self.objectives]  # order matters
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_overrides(
        self,
        *,
        task: str | None = None,
        data_dir: str | None = None,
        trials: int | None = None,
        seconds: float | None = None,
        seed: int | None = None,
        backend: str | None = None,
        sampler: str | None = None,
        trial_pruner: str | TrialPrunerConfig | None = None,
    ) -> SearchSpace:
        """A re-validated copy with CLI flags applied (None: keep the file's value).

        A new ``backend`` without a ``sampler`` takes that backend's default sampler when
        the current one does not fit it; a ``trial_pruner`` given by name drops the
        file's options.
        """
        d = self.to_dict()
        for key, value in (("task", task), ("data_dir", data_dir), ("seed", seed)):
            if value is not None:
                d[key] = value
        if trials is not None:
            d["budget"]["trials"] = trials
        if seconds is not None:
            d["budget"]["seconds"] = seconds
        if backend is not None:
            d["backend"] = backend
            if sampler is None and backend in BACKENDS and d["sampler"] not in BACKENDS[backend]:
                d["sampler"] = DEFAULT_SAMPLERS[backend]
        if sampler is not None:
            d["sampler"] = sampler
        if isinstance(trial_pruner, TrialPrunerConfig):
            d["trial_pruner"] = trial_pruner.to_dict()
        elif trial_pruner is not None:
            d["trial_pruner"] = trial_pruner
        return parse_space(d, f"{self.source} with overrides")

    # --- sampling ----------------------------------------------------------------------

    def recipe(self, values: Mapping[str, Any]) -> Recipe:
        """The recipe of sampled ``values`` on top of ``fixed`` (``nm`` forces uniform
        allocation, see the module docstring)."""
        merged = {**self.fixed, **values}
        if merged.get("granularity", _DEFAULTS["granularity"]) == "nm":
            merged["allocation"] = "uniform"
        return Recipe(**merged)

    def sample_optuna(self, trial: Any) -> Recipe:
        """Sample a recipe with an Optuna trial (define-by-run, honouring ``when``)."""
        values: dict[str, Any] = {}
        for p in self.params:
            if not p.active(values):
                continue
            if p.kind == "choice":
                values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif p.kind == "int":
                values[p.name] = trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.log)
            else:
                values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
        return self.recipe(values)

    def optuna_params(self, recipe: Recipe) -> dict[str, Any]:
        """The params of ``recipe`` for ``study.enqueue_trial`` (e.g. a warm start).

        Raises:
            ConfigError: the recipe differs from the space on a field that is not
                searched, or a searched value is outside its param.
        """
        values = recipe.to_dict()
        searched = {p.name for p in self.params}
        nm = recipe.granularity == "nm"
        for name, value in values.items():
            if name in searched or (nm and name == "allocation"):
                continue
            expected = self.fixed.get(name, _DEFAULTS[name])
            if (list(expected) if isinstance(expected, tuple) else expected) != value:
                where = "fixes" if name in self.fixed else "does not search (default)"
                raise ConfigError(
                    f"{self.source}: recipe has {name}={value!r} but the space {where} {name}={expected!r}."
                )
        params: dict[str, Any] = {}
        for p in self.params:
            if not p.active(params):
                continue
            value = values[p.name]
            if nm and p.name == "allocation" and value not in p.choices:
                value = p.choices[0]  # any choice maps to uniform for nm
            if not p.contains(value):
                raise ConfigError(
                    f"{self.source}: recipe has {p.name}={value!r}, outside params.{p.name} "
                    f"({_describe(p)})."
                )
            params[p.name] = value
        return params

    def flaml_config(self) -> dict[str, Any]:
        """The space as ``flaml.tune`` sample domains, one per param.

        FLAML's space is flat: conditional params are always sampled and ignored by
        :meth:`recipe_from_config` when their condition is false.
        """
        import warnings

        from autoprune._imports import require

        with warnings.catch_warnings():  # core flaml warns that flaml.automl is absent
            warnings.simplefilter("ignore", UserWarning)
            tune = require("flaml.tune")
        config: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "choice":
                config[p.name] = tune.choice(list(p.choices))
            elif p.kind == "int":
                if p.step is not None:
                    config[p.name] = tune.qrandint(p.low, p.high, p.step)  # upper inclusive
                elif p.log:
                    config[p.name] = tune.lograndint(p.low, p.high + 1)  # upper exclusive
                else:
                    config[p.name] = tune.randint(p.low, p.high + 1)
            elif p.step is not None:
                config[p.name] = tune.quniform(p.low, p.high, p.step)
            elif p.log:
                config[p.name] = tune.loguniform(p.low, p.high)
            else:
                config[p.name] = tune.uniform(p.low, p.high)
        return config

    def recipe_from_config(self, config: Mapping[str, Any]) -> Recipe:
        """The recipe of a FLAML config (inactive params dropped, numbers kept in range;
        keys that are not params are ignored)."""
        values: dict[str, Any] = {}
        for p in self.params:
            if not p.active(values):
                continue
            if p.name not in config:
                raise ConfigError(f"{self.source}: the sampled config lacks param {p.name!r}.")
            value = config[p.name]
            if p.kind == "int":
                value = min(max(int(round(value)), p.low), p.high)
            elif p.kind == "float":
                value = min(max(float(value), p.low), p.high)
            elif value in p.choices:
                value = p.choices[p.choices.index(value)]  # flaml hands back numpy scalars
            else:
                raise ConfigError(
                    f"{self.source}: sampled {p.name}={value!r}; allowed: {_join(p.choices)}."
                )
            values[p.name] = value
        return self.recipe(values)

    def flaml_lexico_objectives(self) -> dict[str, Any]:
        """FLAML's ``lexico_objectives`` (metrics, modes, tolerances, targets) of the
        objectives in priority order."""
        return {
            "metrics": self.objective_names,
            "modes": [o.direction for o in self.objectives],
            "tolerances": {o.name: self.flaml.tolerances.get(o.name, 0.0) for o in self.objectives},
            "targets": {
                o.name: self.flaml.targets.get(o.name, math.inf if o.maximize else -math.inf)
                for o in self.objectives
            },
        }


def constraint_violations(
    space: SearchSpace | Sequence[Constraint], measures: Mapping[str, float]
) -> list[float]:
    """One value per constraint in Optuna's convention (<= 0: satisfied), for
    ``trial.set_constraint``. A measure that is None or NaN violates (+inf).

    Raises:
        KeyError: a constrained measure is missing from ``measures``.
    """
    constraints = space.constraints if isinstance(space, SearchSpace) else space
    out = []
    for c in constraints:
        if c.measure not in measures:
            raise KeyError(f"constraint '{c}' needs {c.measure!r}; measures have {_join(sorted(measures))}")
        value = measures[c.measure]
        out.append(c.violation(math.nan if value is None else float(value)))  # None: not measured
    return out


def is_feasible(space: SearchSpace | Sequence[Constraint], measures: Mapping[str, float]) -> bool:
    """True when every constraint holds."""
    return all(v <= 0 for v in constraint_violations(space, measures))


# --- loading -------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML that rejects duplicate keys and reads ``1e-4`` as a number."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key != "<<" and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 wants a dot in floats, so "1e-4" would be a string; YAML 1.2 and users don't
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def builtin_spaces() -> dict[str, Path]:
    """The shipped spaces by name (``default``, ``unstructured``, ...)."""
    package = Path(__file__).resolve().parents[1]
    found: dict[str, Path] = {}
    # the source checkout's search_spaces/ first, then the installed copy
    # a wheel installs them under <prefix>/share/autoprune (pyproject data-files)
    installed = Path(sys.prefix) / "share" / "autoprune" / "search_spaces"
    for folder in (package.parent / "search_spaces", installed):
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


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
    source = str(path)
    file = Path(path)
    if not file.is_file():
        builtin = builtin_spaces()
        if source in builtin:
            file = builtin[source]
        else:
            raise ConfigError(
                f"{source}: no such search space file; built-in spaces: {_join(sorted(builtin))}."
            )
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}.") from None
    if isinstance(data, dict) and "name" not in data:
        data = {"name": re.sub(r"[^A-Za-z0-9_.-]", "-", file.stem), **data}
    return parse_space(data, source)


def parse_space(data: Mapping[str, Any], source: str = "<dict>") -> SearchSpace:
    """Validate a search space given as a mapping (the YAML layout).

    Args:
        data: the parsed YAML.
        source: where it came from, named in error messages.

    Raises:
        ConfigError: the first problem found, as ``source: key.path: what is allowed``.
    """
    return _Parser(source).parse(data)


# --- validation ----------------------------------------------------------------------


def _join(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items)


def _describe(p: ParamSpec) -> str:
    if p.kind == "choice":
        return f"choices {_join(p.choices)}"
    return f"{p.kind} range [{p.low}, {p.high}]"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}")

    def mapping(self, value: Any, path: str, allowed: Sequence[str] | None = None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected a mapping, but got {value!r}.")
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.error(f"{path}.{key}", f"{key!r} is not a key here; allowed: {_join(allowed)}.")
        return dict(value)

    def number(self, value: Any, path: str, *, low: float | None = None, strict: bool = False,
               integer: bool = False, optional: bool = False) -> Any:  # fmt: skip
        if value is None and optional:
            return None
        ok = _is_int(value) if integer else _is_number(value)
        if ok and low is not None:
            ok = value > low if strict else value >= low
        if not ok:
            what = "an integer" if integer else "a number"
            if low is not None:
                what += f" {'>' if strict else '>='} {low:g}"
            raise self.error(path, f"must be {what}{' or null' if optional else ''}, but got {value!r}.")
        return value if integer else float(value)

    def choice(self, value: Any, path: str, allowed: Sequence[str], what: str) -> str:
        if value not in allowed:
            raise self.error(path, f"{value!r} is not {what}; allowed: {_join(allowed)}.")
        return value

    def parse(self, data: Any) -> SearchSpace:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{self.source}: expected a mapping of keys at the top level, but got {data!r}.")
        data = self.mapping(data, "top level")
        for key in data:
            if key not in _TOP_LEVEL:
                raise ConfigError(f"{self.source}: {key}: {key!r} is not a key; allowed: {_join(_TOP_LEVEL)}.")

        name = data.get("name", "search")
        if not (isinstance(name, str) and _NAME_RE.match(name)):
            raise self.error(
                "name", f"must be letters, digits, '_', '.' or '-' (it names the run directory), but got {name!r}."
            )
        task = data.get("task", "digits-mlp")
        if not isinstance(task, str) or not task.strip():
            raise self.error("task", f"must be a task name, pkg.mod:attr or file.py:attr, but got {task!r}.")
        data_dir = data.get("data_dir")
        if data_dir is not None and not isinstance(data_dir, str):
            raise self.error("data_dir", f"must be a path or null, but got {data_dir!r}.")
        seed = data.get("seed", 0)
        if not (_is_int(seed) and 0 <= seed < 2**32):
            raise self.error("seed", f"must be an integer in [0, 2**32), but got {seed!r}.")
        description = data.get("description") or ""
        if not isinstance(description, str):
            raise self.error("description", f"must be text, but got {description!r}.")

        objectives = self.objectives(data.get("objectives"))
        constraints = self.constraints(data.get("constraints"))
        budget = self.budget(data.get("budget", {"trials": 20}))
        backend = self.choice(data.get("backend", "optuna"), "backend", list(BACKENDS), "a backend")
        sampler = data.get("sampler", DEFAULT_SAMPLERS[backend])
        if sampler not in BACKENDS[backend]:
            allowed = _join(BACKENDS[backend])
            raise self.error("sampler", f"{sampler!r} is not a sampler of backend {backend}; allowed: {allowed}.")
        if backend == "flaml" and len(objectives) > 1 and sampler != "cfo":
            raise self.error(
                "sampler",
                f"{sampler} takes one objective, but the space has {len(objectives)}; allowed: cfo "
                "(lexicographic objectives) or a single objective.",
            )
        trial_pruner = self.trial_pruner(data.get("trial_pruner", "none"), objectives)
        flaml = self.flaml(data.get("flaml"), objectives)
        executor = self.executor(data.get("executor"))
        latency = self.latency(data.get("latency"))
        params = self.params(data.get("params"))
        fixed = self.fixed(data.get("fixed"), {p.name for p in params})
        self.check_nm(params, fixed)
        reference = self.reference(data.get("reference_point"), objectives)
        space = SearchSpace(
            objectives=objectives, params=params, name=name, task=task, data_dir=data_dir,
            seed=seed, description=description, constraints=constraints, budget=budget,
            backend=backend, sampler=sampler, trial_pruner=trial_pruner, flaml=flaml,
            executor=executor, latency=latency, reference=reference, fixed=fixed,
            source=self.source,
        )  # fmt: skip
        return dataclasses.replace(space, warm_start=self.warm_start(data.get("warm_start"), space))

    def reference(self, value: Any, objectives: tuple[Objective, ...]) -> dict[str, float]:
        names = [o.name for o in objectives]
        items = self.mapping(value, "reference_point", names)
        return {k: self.number(v, f"reference_point.{k}") for k, v in items.items()}

    def warm_start(self, value: Any, space: SearchSpace) -> tuple[Recipe, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error("warm_start", f"expected a list of recipes ({{field: value}}), but got {value!r}.")
        recipes = []
        for i, item in enumerate(value):
            path = f"warm_start[{i}]"
            items = self.mapping(item, path, list(_FIELDS))
            values = {k: self.field_value(k, v, f"{path}.{k}") for k, v in items.items()}
            try:
                recipe = space.recipe(values)
                space.optuna_params(recipe)  # the space must be able to produce it
            except ConfigError as exc:
                message = str(exc).removeprefix(f"{self.source}: ")
                raise self.error(path, message) from None
            recipes.append(recipe)
        return tuple(recipes)

    def objectives(self, value: Any) -> tuple[Objective, ...]:
        items = self.mapping(value, "objectives")
        if not items:
            raise self.error(
                "objectives", f"at least one is needed, as measure: min|max; measures: {_join(OBJECTIVE_MEASURES)}."
            )
        out = []
        for name, direction in items.items():
            self.choice(name, f"objectives.{name}", OBJECTIVE_MEASURES, "a measure")
            self.choice(direction, f"objectives.{name}", DIRECTIONS, "a direction")
            out.append(Objective(name, direction))
        return tuple(out)

    def constraints(self, value: Any) -> tuple[Constraint, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error("constraints", f"expected a list of 'MEASURE OP NUMBER', but got {value!r}.")
        out = []
        for i, text in enumerate(value):
            path = f"constraints[{i}]"
            match = _CONSTRAINT_RE.match(text) if isinstance(text, str) else None
            if match is None:
                raise self.error(
                    path, f"{text!r} is not 'MEASURE OP NUMBER'; allowed operators: {_join(CONSTRAINT_OPS)}."
                )
            measure, op, raw = match.groups()
            self.choice(measure, path, OBJECTIVE_MEASURES, "a measure")
            try:
                bound = float(raw)
            except ValueError:
                bound = math.nan
            if not math.isfinite(bound):
                raise self.error(path, f"bound {raw!r} is not a finite number.")
            out.append(Constraint(measure, op, bound))
        return tuple(out)

    def budget(self, value: Any) -> Budget:
        items = self.mapping(value, "budget", ("trials", "seconds"))
        trials = self.number(items.get("trials"), "budget.trials", low=1, integer=True, optional=True)
        seconds = self.number(items.get("seconds"), "budget.seconds", low=0, strict=True, optional=True)
        if trials is None and seconds is None:
            raise self.error("budget", "set trials (an integer >= 1) and/or seconds (> 0).")
        return Budget(trials, seconds)

    def trial_pruner(self, value: Any, objectives: tuple[Objective, ...]) -> TrialPrunerConfig:
        if isinstance(value, str):
            items: dict[str, Any] = {"name": value}
        else:
            items = self.mapping(value, "trial_pruner")
        options = {k: v for k, v in items.items() if k != "name"}
        config = TrialPrunerConfig(items.get("name"), options)
        try:  # name, options and bounds, the number and kind of objectives
            validate_trial_pruner(config, [(o.name, o.direction) for o in objectives])
        except ConfigError as exc:
            raise self.error("trial_pruner", str(exc)) from None
        return config

    def flaml(self, value: Any, objectives: tuple[Objective, ...]) -> FlamlSpec:
        items = self.mapping(value, "flaml", ("tolerances", "targets"))
        names = [o.name for o in objectives]
        tolerances = self.mapping(items.get("tolerances"), "flaml.tolerances", names)
        for name, tol in tolerances.items():
            ok = (_is_number(tol) and tol >= 0) or (
                isinstance(tol, str) and re.fullmatch(r"\d+(\.\d*)?%", tol.strip()) is not None
            )
            if not ok:
                raise self.error(
                    f"flaml.tolerances.{name}", f"must be a number >= 0 or a percentage like '5%', but got {tol!r}."
                )
        targets = self.mapping(items.get("targets"), "flaml.targets", names)
        targets = {name: self.number(t, f"flaml.targets.{name}") for name, t in targets.items()}
        return FlamlSpec(tolerances, targets)

    def executor(self, value: Any) -> ExecutorConfig:
        items = self.mapping(value, "executor", [f.name for f in dataclasses.fields(ExecutorConfig)])
        name = self.choice(items.get("name", "local"), "executor.name", EXECUTORS, "an executor")
        address = items.get("address")
        if address is not None and (name != "ray" or not isinstance(address, str)):
            raise self.error("executor.address", f"is a Ray address (text) for executor ray, but got {address!r}.")
        return ExecutorConfig(
            name=name,
            workers=self.number(items.get("workers", 1), "executor.workers", low=1, integer=True),
            cpus_per_trial=self.number(items.get("cpus_per_trial", 1), "executor.cpus_per_trial", low=0, strict=True),
            gpus_per_trial=self.number(items.get("gpus_per_trial", 0), "executor.gpus_per_trial", low=0),
            address=address,
        )

    def latency(self, value: Any) -> LatencySpec:
        items = self.mapping(value, "latency", [f.name for f in dataclasses.fields(LatencySpec)])
        return LatencySpec(
            threads=self.number(items.get("threads", 1), "latency.threads", low=1, integer=True),
            batch_size=self.number(items.get("batch_size"), "latency.batch_size", low=1, integer=True, optional=True),
            warmup=self.number(items.get("warmup", 10), "latency.warmup", low=0, integer=True),
            repeats=self.number(items.get("repeats", 50), "latency.repeats", low=1, integer=True),
        )

    # --- recipe fields

    def field_value(self, name: str, value: Any, path: str) -> Any:
        """Check one value of recipe field ``name`` on its own; returns it normalised."""
        kind = _FIELDS[name]
        if name in _TEXT_CHOICES:
            return self.choice(value, path, _TEXT_CHOICES[name], f"a {name}")
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.error(path, f"{name} takes true or false, but got {value!r}.")
            return value
        if kind.startswith("tuple"):
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise self.error(path, f"{name} takes a list of module names, but got {value!r}.")
            return tuple(value)
        if kind == "int" and not _is_int(value):
            raise self.error(path, f"{name} takes an integer, but got {value!r}.")
        if kind == "float" and not _is_number(value):
            raise self.error(path, f"{name} takes a number, but got {value!r}.")
        value = float(value) if kind == "float" else value
        # the recipe's own check, with a partner that keeps nm_n < nm_m out of the way
        partner = {"nm_n": {"nm_m": value + 1}, "nm_m": {"nm_n": 1}}.get(name, {})
        try:
            Recipe(**{name: value, **partner})
        except ConfigError as exc:
            raise self.error(path, str(exc)) from None
        return value

    def params(self, value: Any) -> tuple[ParamSpec, ...]:
        items = self.mapping(value, "params")
        if not items:
            raise self.error("params", f"nothing to search; give recipe fields: {_join(_FIELDS)}.")
        specs: dict[str, ParamSpec] = {}
        whens: dict[str, Any] = {}
        for name, spec in items.items():
            path = f"params.{name}"
            if name not in _FIELDS:
                raise self.error(path, f"{name!r} is not a recipe field; allowed: {_join(_FIELDS)}.")
            if _FIELDS[name].startswith("tuple"):
                raise self.error(path, f"{name} cannot be searched; set it under fixed.")
            spec = self.mapping(spec, path, ("choices", "low", "high", "type", "log", "step", "when"))
            whens[name] = spec.pop("when", None)
            specs[name] = self.param(name, spec, path)
        for name, when in whens.items():
            if when is not None:
                specs[name] = dataclasses.replace(specs[name], when=self.when(name, when, specs))
        return self.ordered(specs)

    def param(self, name: str, spec: dict[str, Any], path: str) -> ParamSpec:
        kind = _FIELDS[name]
        if "choices" in spec:
            extra = sorted(set(spec) - {"choices"})
            if extra:
                raise self.error(f"{path}.{extra[0]}", "not allowed beside choices; use either choices or low/high.")
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise self.error(f"{path}.choices", f"expected a non-empty list, but got {choices!r}.")
            values = tuple(self.field_value(name, c, f"{path}.choices") for c in choices)
            if len(set(values)) != len(values):
                raise self.error(f"{path}.choices", f"has duplicates: {choices!r}.")
            return ParamSpec(name, "choice", choices=values)
        if kind not in ("int", "float"):
            allowed = _TEXT_CHOICES.get(name, (True, False))
            raise self.error(path, f"{name} needs choices (a list from {_join(allowed)}), not a range.")
        range_kind = spec.get("type", kind)
        if range_kind != kind:
            raise self.error(
                f"{path}.type", f"{range_kind!r} does not fit recipe field {name} ({kind}); allowed: {kind}."
            )
        for key in ("low", "high"):
            if key not in spec:
                raise self.error(path, f"a range needs low and high (or give choices); {key} is missing.")
        low = self.field_value(name, spec["low"], f"{path}.low")
        high = self.field_value(name, spec["high"], f"{path}.high")
        if low >= high:
            raise self.error(path, f"empty or inverted range: low={low!r} must be < high={high!r}.")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise self.error(f"{path}.log", f"must be true or false, but got {log!r}.")
        if log and low <= 0:
            raise self.error(f"{path}.low", f"a log range needs low > 0, but got low={low!r}.")
        step = spec.get("step")
        if step is not None:
            step = self.number(step, f"{path}.step", low=0, strict=True, integer=kind == "int")
            if log:
                raise self.error(f"{path}.step", "cannot be combined with log: true.")
        return ParamSpec(name, kind, low=low, high=high, log=log, step=step)

    def when(self, name: str, when: Any, specs: Mapping[str, ParamSpec]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        path = f"params.{name}.when"
        items = self.mapping(when, path)
        if not items:
            raise self.error(path, "empty; give {param: [values]}.")
        out = []
        for parent, allowed in items.items():
            parent_path = f"{path}.{parent}"
            if parent == name or parent not in specs:
                others = [n for n in specs if n != name and specs[n].kind == "choice"]
                raise self.error(parent_path, f"{parent!r} is not another param; allowed: {_join(others) or 'none'}.")
            if specs[parent].kind != "choice":
                raise self.error(parent_path, f"conditions need a param with choices, but {parent} is a range.")
            allowed = allowed if isinstance(allowed, list) else [allowed]
            for v in allowed:
                if v not in specs[parent].choices:
                    allowed_values = _join(specs[parent].choices)
                    raise self.error(parent_path, f"{v!r} is not a choice of {parent}; allowed: {allowed_values}.")
            out.append((parent, tuple(allowed)))
        return tuple(out)

    def ordered(self, specs: dict[str, ParamSpec]) -> tuple[ParamSpec, ...]:
        """Params in file order, each after the params its ``when`` reads."""
        done: list[str] = []
        visiting: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            if name in visiting:
                cycle = " -> ".join(visiting[visiting.index(name):] + [name])
                raise self.error(f"params.{name}.when", f"conditions form a cycle: {cycle}.")
            visiting.append(name)
            for parent, _ in specs[name].when:
                visit(parent)
            visiting.pop()
            done.append(name)

        for name in specs:
            visit(name)
        return tuple(specs[name] for name in done)

    def fixed(self, value: Any, searched: set[str]) -> dict[str, Any]:
        items = self.mapping(value, "fixed")
        out = {}
        for name, v in items.items():
            path = f"fixed.{name}"
            if name not in _FIELDS:
                raise self.error(path, f"{name!r} is not a recipe field; allowed: {_join(_FIELDS)}.")
            if name in searched:
                raise self.error(path, f"{name} is also under params; a field is either fixed or searched.")
            out[name] = self.field_value(name, v, path)
        try:
            Recipe(**out)
        except ConfigError as exc:
            raise self.error("fixed", str(exc)) from None
        return out

    def check_nm(self, params: tuple[ParamSpec, ...], fixed: Mapping[str, Any]) -> None:
        """nm_n < nm_m for every value the space can produce."""
        by_name = {p.name: p for p in params}

        def bounds(name: str) -> tuple[int, int]:
            if name in by_name:
                return by_name[name].bounds()
            value = fixed.get(name, _DEFAULTS[name])
            return value, value

        n_max, m_min = bounds("nm_n")[1], bounds("nm_m")[0]
        if n_max >= m_min:
            where = "params.nm_n" if "nm_n" in by_name else "params.nm_m"
            raise self.error(where, f"nm_n can be {n_max} and nm_m {m_min}, but nm_n must stay below nm_m.")
