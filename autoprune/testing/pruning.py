"""Contract checks for the pruning extension points.

Every registered criterion, granularity, allocation, schedule and timing passes these,
the built-ins as well as a plug-in's own::

    from autoprune.testing.pruning import check_criterion, check_granularity
    from autoprune.registry import CRITERIA, GRANULARITIES

    def test_my_criterion():
        check_criterion(CRITERIA.get("magnitude_max"))

Each check builds a tiny MLP on fixed random data (:class:`TinyTask`, a few milliseconds),
drives the implementation through the same calls autoprune makes, and raises
``AssertionError`` with what was expected and what came out.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import torch
import torch_pruning as tp
from torch import nn

from autoprune.pruning import (
    Allocation,
    Criterion,
    Granularity,
    Pruner,
    Schedule,
    Timing,
    build_graph,
    channel_scoring,
    effective_weight,
    prunable_layers,
)
from autoprune.recipe import Recipe
from autoprune.registry import ALLOCATIONS, CRITERIA, GRANULARITIES, SCHEDULES, TIMINGS
from autoprune.tasks import Task, call_model

__all__ = [
    "TinyTask",
    "check_criterion",
    "check_granularity",
    "check_allocation",
    "check_schedule",
    "check_timing",
    "registered",
]


class TinyTask(Task):
    """An MLP 8-16-16-4 on 64 fixed random examples in 4 batches of 16 (seeded, no files)."""

    name = "contract-tiny"
    baseline_epochs = 2
    baseline_lr = 1e-2
    benchmark_batch_size = 16

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(64, 8, generator=gen)
        self.y = torch.randint(0, 4, (64,), generator=gen)

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))

    def train_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, 64, 16):
            yield self.x[i : i + 16], self.y[i : i + 16]

    def val_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.train_batches(0)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        return self.x[:batch_size]


def _expect(condition: bool, message: str) -> None:
    # not `assert`: the checks must hold under python -O as well
    if not condition:
        raise AssertionError(message)


def _model(task: Task, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return task.build_model()


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _zero_fraction(layers: Sequence[tuple[str, nn.Module]]) -> float:
    zeros = sum(int((effective_weight(m) == 0).sum()) for _, m in layers)
    return zeros / sum(effective_weight(m).numel() for _, m in layers)


def _shape(outputs: Any) -> torch.Size:
    """The shape of a model's output (the logits of a Hugging Face model output)."""
    return getattr(outputs, "logits", outputs).shape


def _registered_name(registry: Any, obj: Any, kind: str) -> str:
    name = getattr(obj, "name", "")
    _expect(
        bool(name) and name in registry,
        f"{kind} {obj!r} must be registered under its name (register_instance on the class); "
        f"registered: {', '.join(registry.names())}.",
    )
    return name


# -- criterion --------------------------------------------------------------------------


def check_criterion(criterion: Criterion, task: Task | None = None) -> None:
    """Weight scores have the weights' shapes, are finite and repeatable, and leave the model
    as it was (weights, modes, ``.grad``); the channel importance scores a group of the
    first layer with one finite value per channel.

    Raises:
        AssertionError: a contract is broken.
    """
    _expect(isinstance(criterion, Criterion), f"expected a Criterion, but got {type(criterion).__name__}.")
    _registered_name(CRITERIA, criterion, "criterion")
    _expect(isinstance(criterion.needs_data, bool), f"needs_data must be a bool, got {criterion.needs_data!r}.")
    task = task or TinyTask()
    recipe = Recipe(calibration_batches=2)
    model = _model(task)
    model.train()
    layers = prunable_layers(model, recipe)
    before = _state(model)
    scores = criterion.weight_scores(layers, model, task, recipe)
    again = criterion.weight_scores(layers, model, task, recipe)
    _expect(sorted(scores) == sorted(n for n, _ in layers),
            f"scores must be keyed by layer name, got {sorted(scores)}.")
    for name, module in layers:
        s = scores[name]
        _expect(isinstance(s, torch.Tensor), f"scores[{name!r}] must be a tensor, got {type(s).__name__}.")
        _expect(s.shape == module.weight.shape,
                f"scores[{name!r}] has shape {tuple(s.shape)}, the weight {tuple(module.weight.shape)}.")
        _expect(bool(torch.isfinite(s).all()), f"scores[{name!r}] must be finite.")
        _expect(torch.equal(s, again[name]), f"scores[{name!r}] differ between two calls on the same model.")
    _expect(_same_state(before, _state(model)), "weight_scores changed the model's weights or buffers.")
    _expect(all(m.training for m in model.modules()), "weight_scores left the model in eval mode.")
    _expect(all(p.grad is None for p in model.parameters()), "weight_scores left .grad on the parameters.")
    if not criterion.needs_data:
        criterion.weight_scores(layers, model, None, recipe)  # no data needed: no task either

    importance = criterion.channel_importance()
    _expect(isinstance(importance, tp.importance.Importance),
            f"channel_importance() must return a Torch-Pruning Importance, got {importance!r}.")
    first = layers[0][1]
    graph = build_graph(model, task)
    group = graph.get_pruning_group(first, tp.prune_linear_out_channels, list(range(first.out_features)))
    with channel_scoring(importance, model, task, recipe):
        imp = importance(group)
    _expect(imp is not None and tuple(imp.shape) == (first.out_features,),
            f"channel scores must have one value per channel, got {imp!r}.")
    _expect(bool(torch.isfinite(imp).all()), "channel scores must be finite.")
    _expect(all(p.grad is None for p in model.parameters()), "channel scoring left .grad on the parameters.")


# -- granularity ------------------------------------------------------------------------


def _allocation_for(granularity: Granularity) -> str:
    return granularity.allocations[0] if granularity.allocations else "uniform"


def check_granularity(granularity: Granularity, task: Task | None = None, *, tolerance: float = 0.05) -> None:
    """Two cumulative steps reach their targets (counted on :meth:`Granularity.layers`), the model keeps running with the same
    output shape, what a step removed stays removed; a packed granularity only zeroes
    weights (shapes unchanged), a dense one shrinks the layers; :meth:`finalize` leaves no
    mask; a scannable granularity's scan leaves the model as it was.

    Args:
        granularity: the registered granularity.
        task: defaults to :class:`TinyTask`.
        tolerance: how far the fraction removed may be from the target (rounding on small
            layers).

    Raises:
        AssertionError: a contract is broken.
    """
    _expect(isinstance(granularity, Granularity), f"expected a Granularity, but got {type(granularity).__name__}.")
    name = _registered_name(GRANULARITIES, granularity, "granularity")
    for attr in ("packed", "fixed_sparsity"):
        _expect(isinstance(getattr(granularity, attr), bool),
                f"{attr} must be a bool, got {getattr(granularity, attr)!r}.")
    allowed = granularity.allocations
    _expect(allowed is None or (isinstance(allowed, tuple) and allowed and all(a in ALLOCATIONS for a in allowed)),
            f"allocations must be None or a tuple of registered allocations, got {allowed!r}.")
    task = task or TinyTask()
    recipe = Recipe(granularity=name, sparsity=0.5, allocation=_allocation_for(granularity))
    final = granularity.effective_sparsity(recipe)
    _expect(0.0 < final < 1.0, f"effective_sparsity must be in (0, 1), got {final!r}.")
    described = granularity.describe(recipe)
    _expect(isinstance(described, str) and described != "", f"describe() must be a non-empty string, got {described!r}.")
    if allowed is not None:
        for other in ALLOCATIONS.names():
            if other not in allowed:
                try:
                    Recipe(granularity=name, allocation=other)
                except ValueError:
                    continue
                raise AssertionError(f"Recipe(granularity={name!r}, allocation={other!r}) must be rejected.")

    model = _model(task)
    inputs = task.example_input(4)
    out_shape = _shape(call_model(model, inputs))
    pruner = Pruner(recipe, task)
    layers = granularity.layers(model, recipe)
    sizes = granularity.layer_sizes(layers)
    _expect(sorted(sizes) == sorted(n for n, _ in layers) and all(isinstance(v, int) and v > 0 for v in sizes.values()),
            f"layer_sizes must give a positive int per prunable layer, got {sizes!r}.")
    shapes = {n: tuple(m.weight.shape) for n, m in layers} if granularity.packed else {}
    params = sum(p.numel() for p in model.parameters())
    zeros_before: dict[str, torch.Tensor] = {}
    for target in (final / 2, final):
        model = pruner.step(model, target)
        layers = granularity.layers(model, recipe)
        _expect(_shape(call_model(model, inputs)) == out_shape,
                f"the model's output shape changed after a step to {target}.")
        if granularity.packed:
            now_shapes = {n: tuple(m.weight.shape) for n, m in layers}
            _expect(now_shapes == shapes, f"a packed granularity must keep weight shapes {shapes}, got {now_shapes}.")
            for n, m in layers:
                w = effective_weight(m)
                if n in zeros_before:
                    _expect(bool((w[zeros_before[n]] == 0).all()), f"layer {n!r}: a weight removed earlier came back.")
                zeros_before[n] = w == 0
            removed = _zero_fraction(layers)
        else:
            now = granularity.layer_sizes(layers)
            removed = 1.0 - sum(now.values()) / sum(pruner.sizes.values())
        _expect(abs(removed - target) <= tolerance, f"a step to target {target:.3f} removed {removed:.3f}.")
    if not granularity.packed:
        _expect(sum(p.numel() for p in model.parameters()) < params, "a dense granularity must remove parameters.")
    model = pruner.finalize(model)
    _expect(not any(hasattr(m, "weight_orig") for m in model.modules()), "finalize() must fold every mask in.")
    _expect(_shape(call_model(model, inputs)) == out_shape, "the model no longer runs after finalize().")

    if granularity.scannable:
        fresh = _model(task)
        before = _state(fresh)
        layers = granularity.layers(fresh, recipe)
        scan = granularity.scan(fresh, task, recipe, layers, (0.25, 0.5))
        _expect(sorted(scan) == sorted(n for n, _ in layers),
                f"the scan must cover every prunable layer, got {sorted(scan)}.")
        _expect(all(sorted(v) == [0.25, 0.5] and all(math.isfinite(x) for x in v.values()) for v in scan.values()),
                f"the scan must give a finite metric per level, got {scan!r}.")
        _expect(_same_state(before, _state(fresh)), "the scan must leave the model as it was.")


# -- allocation -------------------------------------------------------------------------


def check_allocation(allocation: Allocation, task: Task | None = None, *, granularity: str = "unstructured") -> None:
    """Amounts cover exactly the layers asked, each in [0, 1), with a size-weighted mean
    equal to the target; one pruning step with it (on ``granularity``) reaches the target
    overall.

    Raises:
        AssertionError: a contract is broken.
    """
    _expect(isinstance(allocation, Allocation), f"expected an Allocation, but got {type(allocation).__name__}.")
    name = _registered_name(ALLOCATIONS, allocation, "allocation")
    _expect(isinstance(allocation.global_ranking, bool),
            f"global_ranking must be a bool, got {allocation.global_ranking!r}.")
    task = task or TinyTask()
    recipe = Recipe(granularity=granularity, allocation=name, sparsity=0.5)
    model = _model(task)
    pruner = Pruner(recipe, task)
    pruner.step(model, 0.0)  # records the sizes and lets the allocation prepare
    sizes = dict(pruner.sizes)
    total = sum(sizes.values())
    for target in (0.0, 0.3, 0.6):
        amounts = allocation.amounts(pruner, sizes, target)
        _expect(sorted(amounts) == sorted(sizes),
                f"amounts must cover the layers {sorted(sizes)}, got {sorted(amounts)}.")
        _expect(all(0.0 <= a < 1.0 for a in amounts.values()), f"amounts must be in [0, 1), got {amounts!r}.")
        mean = sum(amounts[n] * sizes[n] for n in sizes) / total
        _expect(abs(mean - target) <= 1e-6,
                f"the size-weighted mean of the amounts is {mean!r}, the target {target!r}.")
    pruner.step(model, 0.5)
    layers = prunable_layers(model, recipe)
    if pruner.granularity.packed:
        removed = _zero_fraction(layers)
    else:
        removed = 1.0 - sum(pruner.granularity.layer_sizes(layers).values()) / total
    _expect(abs(removed - 0.5) <= 0.05, f"a step to 0.5 with allocation {name!r} removed {removed:.3f}.")


# -- schedule ---------------------------------------------------------------------------


def check_schedule(schedule: Schedule) -> None:
    """Targets are cumulative (non-decreasing), within [0, final], at most ``steps`` of
    them, the last one is ``final`` exactly, and :meth:`Schedule.pruning_steps` counts them.

    Raises:
        AssertionError: a contract is broken.
    """
    _expect(isinstance(schedule, Schedule), f"expected a Schedule, but got {type(schedule).__name__}.")
    _registered_name(SCHEDULES, schedule, "schedule")
    for final in (0.3, 0.9, 0.97, 0.0):
        for steps in (1, 2, 3, 7):
            targets = schedule.targets(final, steps)
            _expect(isinstance(targets, list) and 1 <= len(targets) <= steps,
                    f"targets({final}, {steps}) must be a list of 1 to {steps} values, got {targets!r}.")
            _expect(targets[-1] == final, f"targets({final}, {steps}) must end at {final} exactly, got {targets!r}.")
            _expect(all(0.0 <= t <= final for t in targets),
                    f"targets({final}, {steps}) must lie in [0, {final}], got {targets!r}.")
            _expect(all(a <= b for a, b in zip(targets, targets[1:])),
                    f"targets({final}, {steps}) must not decrease, got {targets!r}.")
            taken = schedule.pruning_steps(steps)
            _expect(isinstance(taken, int) and 1 <= taken <= steps and len(schedule.targets(final, taken)) == taken,
                    f"pruning_steps({steps}) must be the number of targets taken, in [1, {steps}], got {taken!r}.")


# -- timing -----------------------------------------------------------------------------


class _FineTuneLog:
    """A fine-tune callback that records its calls and trains nothing."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple[float, int, str]] = []
        self.stop_after = stop_after

    def __call__(self, model: nn.Module, lr: float, epochs: int, lr_schedule: str) -> bool:
        self.calls.append((lr, epochs, lr_schedule))
        return self.stop_after is not None and len(self.calls) >= self.stop_after


def check_timing(timing: Timing, task: Task | None = None) -> None:
    """The run leaves the dense model unchanged, ends at the recipe's sparsity, asks for
    :meth:`Timing.training_length` epochs in all, and stops when the callback says so.

    Raises:
        AssertionError: a contract is broken.
    """
    _expect(isinstance(timing, Timing), f"expected a Timing, but got {type(timing).__name__}.")
    name = _registered_name(TIMINGS, timing, "timing")
    for attr in ("reports_pruned_model", "in_summary"):
        _expect(isinstance(getattr(timing, attr), bool), f"{attr} must be a bool, got {getattr(timing, attr)!r}.")
    task = task or TinyTask()
    recipe = Recipe(timing=name, sparsity=0.5, schedule="iterative", steps=2, finetune_epochs=2)
    dense = _model(task)
    before = _state(dense)
    log = _FineTuneLog()
    model = timing.run(Pruner(recipe, task), dense, log)
    _expect(isinstance(model, nn.Module), f"run() must return the model, got {type(model).__name__}.")
    _expect(_same_state(before, _state(dense)), "run() must leave the dense model unchanged.")
    epochs, expected = sum(e for _, e, _ in log.calls), timing.training_length(recipe, task)
    _expect(epochs == expected, f"run() asked for {epochs} epochs of training, training_length() says {expected}.")
    final = Pruner(recipe, task).finalize(model)
    removed = _zero_fraction(prunable_layers(final, recipe))
    _expect(abs(removed - recipe.effective_sparsity) <= 0.02,
            f"run() must end at sparsity {recipe.effective_sparsity}, got {removed:.3f}.")
    stop = _FineTuneLog(stop_after=1)
    timing.run(Pruner(recipe, task), _model(task), stop)
    _expect(len(stop.calls) == 1,
            f"run() must stop once the callback returns True, but called it {len(stop.calls)} times.")


def registered(registry: Any) -> list[Any]:
    """The registered objects of ``registry`` (for ``pytest.mark.parametrize``)."""
    return [obj for _, obj in registry.items()]

