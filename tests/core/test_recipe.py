from __future__ import annotations

import pytest

from autoprune import ConfigError, Recipe


def test_defaults_are_valid_and_round_trip():
    recipe = Recipe()
    assert Recipe.from_dict(recipe.to_dict()) == recipe


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("criterion", "l1", r"criterion must be one of magnitude_l1, magnitude_l2, random, taylor, wanda, but got criterion='l1'"),
        ("granularity", "block", r"granularity must be one of unstructured, nm, channel"),
        ("schedule", "cosine", r"schedule must be one of one_shot, iterative, gradual"),
        ("timing", "later", r"timing must be one of after_training, during_training, before_training"),
        ("allocation", "lamp", r"allocation must be one of uniform, global, sensitivity"),
        ("sparsity", 1.0, r"sparsity must be in \[0, 1\), but got sparsity=1.0"),
        ("sparsity", -0.1, r"sparsity must be in \[0, 1\)"),
        ("steps", 0, r"steps must be an integer in \[1, 1000\], but got steps=0"),
        ("steps", 100000, r"steps must be an integer in \[1, 1000\], but got steps=100000"),
        ("finetune_epochs", -1, r"finetune_epochs must be an integer in \[0, 10000\]"),
        ("finetune_epochs", 10**9, r"finetune_epochs must be an integer in \[0, 10000\], but got finetune_epochs=1000000000"),
        ("finetune_epochs", 1.5, r"finetune_epochs must be an integer"),
        ("calibration_batches", 10**9, r"calibration_batches must be an integer in \[1, 100000\]"),
        ("finetune_lr", 1e9, r"finetune_lr must be a number in \[0, 100\]"),
        ("finetune_lr", 0.0, r"finetune_lr must be > 0"),
        ("finetune_schedule", "step", r"finetune_schedule must be one of constant, cosine, but got finetune_schedule='step'"),
        ("finetune_steps", 0, r"finetune_steps must be an integer in \[1, 1e\+07\], but got finetune_steps=0"),
        ("report_batches", -1, r"report_batches must be an integer in \[1, 100000\], but got report_batches=-1"),
        ("distill_weight", 1.01, r"distill_weight must be a number in \[0, 1\], but got distill_weight=1.01"),
        ("distill_weight", -0.5, r"distill_weight must be a number in \[0, 1\]"),
        ("distill_temperature", 0.0, r"distill_temperature must be > 0"),
        ("finetune_lr_scale", -1.0, r"finetune_lr_scale must be > 0, but got finetune_lr_scale=-1.0"),
        ("bn_recalibration", "yes", r"bn_recalibration must be true, false or null"),
        ("bn_recalibration_batches", 0, r"bn_recalibration_batches must be an integer in \[1, 100000\]"),
    ],
)
def test_bad_values_name_field_value_and_allowed(field, value, match):
    with pytest.raises(ConfigError, match=match):
        Recipe(**{field: value})


def test_nm_n_must_be_below_nm_m():
    with pytest.raises(ConfigError, match=r"nm_n must satisfy 1 <= nm_n < nm_m, but got nm_n=4, nm_m=4"):
        Recipe(granularity="nm", nm_n=4, nm_m=4)


def test_nm_implies_its_sparsity():
    assert Recipe(granularity="nm", nm_n=2, nm_m=4).effective_sparsity == 0.5
    assert Recipe(granularity="nm", nm_n=1, nm_m=4).effective_sparsity == 0.75
    assert Recipe(granularity="channel", sparsity=0.3).effective_sparsity == 0.3


def test_from_strings_parses_types():
    r = Recipe.from_strings(["sparsity=0.9", "steps=3", "schedule=gradual", "keep_layers=0,2", "prune_classifier=yes"])
    assert (r.sparsity, r.steps, r.schedule, r.keep_layers, r.prune_classifier) == (0.9, 3, "gradual", ("0", "2"), True)


def test_from_strings_rejects_unknown_key_and_bad_type():
    with pytest.raises(ConfigError, match=r"'sparsty' is not a recipe field; allowed: allocation, "):
        Recipe.from_strings(["sparsty=0.5"])
    with pytest.raises(ConfigError, match=r"steps expects a value of type int, but got steps='three'"):
        Recipe.from_strings(["steps=three"])
    with pytest.raises(ConfigError, match=r"--set expects key=value, but got 'sparsity'"):
        Recipe.from_strings(["sparsity"])


def test_pruning_steps():
    assert Recipe(schedule="one_shot", steps=5).pruning_steps == 1
    assert Recipe(schedule="gradual", steps=5).pruning_steps == 5


def test_a_step_budget_excludes_an_explicit_epoch_budget():
    with pytest.raises(ConfigError, match=r"^finetune_steps and finetune_epochs are both set \(finetune_steps=100, "
                                          r"finetune_epochs=3\); allowed: one of them\.$"):
        Recipe(finetune_steps=100, finetune_epochs=3)
    steps = Recipe(finetune_steps=100, report_every=10)
    assert (steps.finetune_epochs, steps.budget_unit, steps.finetune_budget) == (0, "steps", 100)
    assert Recipe.from_dict(steps.to_dict()) == steps  # 0 epochs beside the steps is no conflict
    assert (Recipe().finetune_epochs, Recipe().budget_unit) == (2, "epochs")
    with pytest.raises(ConfigError, match=r"report_every counts optimizer steps and needs finetune_steps"):
        Recipe(report_every=10)


def test_set_replaces_the_base_budget_and_learning_rate_by_their_alternatives():
    base = Recipe(finetune_steps=100, report_every=10, finetune_lr=0.01)
    r = Recipe.from_strings(["finetune_epochs=3", "finetune_lr_scale=0.5"], base=base)
    assert (r.finetune_epochs, r.finetune_steps, r.report_every, r.finetune_lr, r.finetune_lr_scale) == (3, None, None, None, 0.5)
    assert Recipe.from_strings(["finetune_steps=50", "bn_recalibration=null"]).finetune_steps == 50
    with pytest.raises(ConfigError, match=r"finetune_steps and finetune_epochs are both set"):
        Recipe.from_strings(["finetune_steps=50", "finetune_epochs=2"])


def test_learning_rate_is_relative_to_the_task_unless_given():
    assert Recipe().learning_rate(2e-5) == 2e-5
    assert Recipe(finetune_lr_scale=0.5).learning_rate(1e-4) == pytest.approx(5e-5)
    assert Recipe(finetune_lr=1e-3).learning_rate(2e-5) == 1e-3
    with pytest.raises(ConfigError, match=r"finetune_lr and finetune_lr_scale are both set"):
        Recipe(finetune_lr=1e-3, finetune_lr_scale=0.5)


def test_summary_shows_the_budget_the_rate_and_recovery_when_on():
    assert Recipe().summary().endswith("ft2@1xlr")
    assert Recipe(finetune_lr=1e-3).summary().endswith("ft2@1e-03")
    r = Recipe(finetune_steps=500, finetune_lr_scale=0.1, distill_weight=0.7, distill_temperature=4.0, bn_recalibration=False)
    assert r.summary().endswith("ft500s@0.1xlr kd0.7T4 no-bn-recal")
