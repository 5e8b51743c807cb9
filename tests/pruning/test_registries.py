"""The pruning registries: names resolve to objects, wrong names list the valid ones,
third-party registrations are valid recipe names, and the recipe asks the objects."""

from __future__ import annotations

import pytest

from autoprune import recipe as recipe_module
from autoprune.errors import ConfigError
from autoprune.pruning import (
    ALLOCATIONS,
    CRITERIA,
    GRANULARITIES,
    SCHEDULES,
    TIMINGS,
    Granularity,
    Pruner,
    allocation_of,
    criterion_of,
    granularity_of,
    timing_of,
)
from autoprune.recipe import Recipe
from autoprune.testing.pruning import TinyTask


@pytest.mark.parametrize(
    "registry, names",
    [
        (CRITERIA, ("magnitude_l1", "magnitude_l2", "random", "taylor", "wanda")),
        (GRANULARITIES, ("unstructured", "nm", "channel", "head", "ffn", "head+ffn", "layer")),
        (ALLOCATIONS, ("uniform", "global", "sensitivity")),
        (SCHEDULES, ("one_shot", "iterative", "gradual")),
        (TIMINGS, ("after_training", "during_training", "before_training")),
    ],
)
def test_builtins_in_documented_order(registry, names) -> None:
    assert registry.names() == names
    assert all(registry.get(n).name == n for n in names)


def test_recipe_name_tuples_read_the_registries() -> None:
    assert recipe_module.GRANULARITIES == GRANULARITIES.names()
    assert recipe_module.CRITERIA == CRITERIA.names()
    assert recipe_module.LR_SCHEDULES == ("constant", "cosine")


@pytest.mark.parametrize(
    "field, message",
    [
        ("criterion", "criterion must be one of magnitude_l1, magnitude_l2, random, taylor, wanda, "
                      "but got criterion='x'"),
        ("granularity", "granularity must be one of unstructured, nm, channel, head, ffn, head\\+ffn, layer, but got granularity='x'"),
        ("allocation", "allocation must be one of uniform, global, sensitivity, but got allocation='x'"),
        ("schedule", "schedule must be one of one_shot, iterative, gradual, but got schedule='x'"),
        ("timing", "timing must be one of after_training, during_training, before_training, but got timing='x'"),
    ],
)
def test_wrong_names_list_the_valid_ones(field, message) -> None:
    with pytest.raises(ConfigError, match=message):
        Recipe(**{field: "x"})


def test_resolvers() -> None:
    r = Recipe(criterion="wanda", granularity="channel", allocation="global", timing="during_training")
    assert criterion_of(r).needs_data and not criterion_of(Recipe()).needs_data
    assert granularity_of(r).packed is False and granularity_of(Recipe()).packed is True
    assert allocation_of(r).global_ranking and not allocation_of(Recipe()).global_ranking
    assert timing_of(r).name == "during_training" and timing_of(Recipe()).reports_pruned_model


def test_nm_is_asked_for_its_recipe_rules() -> None:
    nm = GRANULARITIES.get("nm")
    r = Recipe(granularity="nm", nm_n=1, nm_m=4, sparsity=0.1)
    assert nm.fixed_sparsity and r.effective_sparsity == 0.75 and r.summary().startswith("1:4 ")
    with pytest.raises(ConfigError, match=r"allocation must be uniform for granularity=nm \(the N:M pattern"):
        Recipe(granularity="nm", allocation="global")


def test_summary_and_steps_ask_timing_and_schedule() -> None:
    assert "after_training" not in Recipe().summary()
    assert "before_training" in Recipe(timing="before_training").summary()
    assert Recipe(schedule="one_shot", steps=4).pruning_steps == 1
    assert Recipe(schedule="gradual", steps=4).pruning_steps == 4


class _HalfRows(Granularity):
    """Zeroes whole output rows of a Linear: a minimal third-party granularity."""

    allocations = ("uniform",)

    def prune_step(self, pruner, model, layers, target):
        from autoprune.pruning import apply_mask, held_scores

        scores = held_scores(model, layers, pruner.task, pruner.recipe)
        for name, module in layers:
            rows = scores[name].sum(1)
            k = round(target * len(rows))
            keep = rows.argsort(descending=True)[: len(rows) - k]
            mask = scores[name].new_zeros(scores[name].shape, dtype=bool)
            mask[keep] = True
            apply_mask(module, mask)


def test_third_party_granularity_is_a_recipe_name_and_prunes() -> None:
    GRANULARITIES.register_instance("rows_test")(_HalfRows)
    try:
        r = Recipe(granularity="rows_test", sparsity=0.5)
        assert r.summary().startswith("rows_test 0.50 ") and r.effective_sparsity == 0.5
        task = TinyTask()
        model = Pruner(r, task).step(task.build_model(), 0.5)
        assert float((model[0].weight == 0).float().mean()) == 0.5
        with pytest.raises(ConfigError, match="allocation must be uniform for granularity=rows_test"):
            Recipe(granularity="rows_test", allocation="global")
        with pytest.raises(ConfigError, match="rows_test' is already registered"):
            GRANULARITIES.register_instance("rows_test")(_HalfRows)
    finally:
        GRANULARITIES.unregister("rows_test")
    with pytest.raises(ConfigError, match="granularity must be one of unstructured, nm, channel, head, ffn, head\\+ffn, layer, but got"):
        Recipe(granularity="rows_test")


def test_sensitivity_scan_names_the_scannable_granularities() -> None:
    from autoprune.pruning import sensitivity_scan

    task = TinyTask()
    with pytest.raises(ConfigError, match="supports granularity unstructured or channel or head or ffn or head\\+ffn, but got granularity='nm'"):
        sensitivity_scan(task.build_model(), task, Recipe(granularity="nm"))
