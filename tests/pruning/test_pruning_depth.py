"""Whole transformer layers and residual blocks: pruned outputs equal the originals with
those blocks skipped; every block removed is refused."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning import GRANULARITIES, LAYER_CRITERIA, Pruner, mark_residual, removable_blocks
from autoprune.recipe import Recipe
from autoprune.tasks import call_model
from autoprune.testing.pruning import TinyTask, check_granularity
from autoprune.testing.transformers import TinyResNet, TinyResNetTask, logits_of


def _skipping(model: nn.Module, names: list[str]) -> nn.Module:
    """A copy of ``model`` whose blocks ``names`` return their input (skipped)."""
    ref = copy.deepcopy(model)
    modules = dict(ref.named_modules())
    for name in names:
        modules[name].register_forward_hook(lambda m, args, kwargs, out: args[0] if args else kwargs["hidden_states"],
                                            with_kwargs=True)
    return ref


def _out(model: nn.Module, task) -> torch.Tensor:
    with torch.no_grad():
        return logits_of(call_model(model.eval(), task.example_input(8)))


def _train_bn(model: nn.Module, task) -> nn.Module:
    """BatchNorm statistics of real batches, so blocks are not all alike."""
    model.train()
    with torch.no_grad():
        for x, _ in task.train_batches(0):
            model(x)
    return model.eval()


@pytest.mark.parametrize("criterion", ["block_influence", "drop_alone"])
@pytest.mark.parametrize("allocation", ["global", "uniform"])
def test_depth_pruned_resnet_equals_skipped_blocks(criterion: str, allocation: str) -> None:
    torch.manual_seed(0)
    task = TinyResNetTask(blocks=3)
    model = _train_bn(task.build_model(), task)
    before = [b.name for b in removable_blocks(model)]
    assert before == ["layer1.0", "layer1.1", "layer1.2", "layer2.1", "layer2.2", "layer3.1", "layer3.2"]
    original = copy.deepcopy(model)
    recipe = Recipe(granularity="layer", sparsity=0.5, layer_criterion=criterion, allocation=allocation)
    model = Pruner(recipe, task).step(model, 0.5)
    gone = [n for n in before if isinstance(dict(model.named_modules())[n], nn.Identity)]
    assert len(gone) == 7 - round(7 * 0.5) == 1 + 1 + 1  # global: over all 7; uniform: 1 of each stage
    torch.testing.assert_close(_out(model, task), _out(_skipping(original, gone), task))
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in original.parameters())


@pytest.mark.parametrize("criterion", ["block_influence", "drop_alone"])
def test_depth_pruned_bert_equals_skipped_layers(criterion: str) -> None:
    pytest.importorskip("transformers")
    from autoprune.testing.transformers import TinyTextTask, tiny_bert

    torch.manual_seed(0)
    task = TinyTextTask(lambda: tiny_bert(layers=4))
    model = task.build_model().eval()
    original = copy.deepcopy(model)
    scores = LAYER_CRITERIA.get(criterion).scores(model, removable_blocks(model), task, Recipe())
    gone = [f"bert.encoder.layer.{i}" for i in sorted(range(4), key=lambda i: (scores[i], i))[:2]]
    recipe = Recipe(granularity="layer", sparsity=0.5, layer_criterion=criterion)
    model = Pruner(recipe, task).step(model, 0.5)
    assert len(model.bert.encoder.layer) == model.config.num_hidden_layers == 2
    torch.testing.assert_close(_out(model, task), _out(_skipping(original, gone), task), rtol=1e-5, atol=1e-5)


def test_removing_every_layer_is_refused_before_the_trial() -> None:
    pytest.importorskip("transformers")
    from autoprune.testing.transformers import TinyTextTask, tiny_bert

    task = TinyTextTask(lambda: tiny_bert(layers=2))
    recipe = Recipe(granularity="layer", sparsity=0.8)
    with pytest.raises(ConfigError, match=r"would remove every one of the 2 layers / blocks") as err:
        GRANULARITIES.get("layer").check_model(task.build_model(), task, recipe)
    assert "\n" not in str(err.value)
    GRANULARITIES.get("layer").check_model(task.build_model(), task, Recipe(granularity="layer", sparsity=0.7))


def test_a_model_without_blocks_is_refused() -> None:
    task = TinyTask()
    with pytest.raises(ConfigError, match="granularity=layer needs transformer layers or residual blocks"):
        GRANULARITIES.get("layer").check_model(task.build_model(), task, Recipe(granularity="layer"))


class _Res(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(x)


def test_marked_blocks_are_removable() -> None:
    model = nn.Sequential(nn.Linear(8, 8), mark_residual(_Res()), _Res(), nn.Linear(8, 4))
    assert [b.name for b in removable_blocks(model)] == ["1"]


def test_contract_on_a_resnet() -> None:
    check_granularity(GRANULARITIES.get("layer"), TinyResNetTask(blocks=2))


def test_contract_on_bert() -> None:
    pytest.importorskip("transformers")
    from autoprune.testing.transformers import TinyTextTask, tiny_bert

    check_granularity(GRANULARITIES.get("layer"), TinyTextTask(lambda: tiny_bert(layers=4)))


def test_layer_criteria_are_registered() -> None:
    assert LAYER_CRITERIA.names() == ("block_influence", "drop_alone")
    with pytest.raises(ConfigError, match="layer_criterion must be one of block_influence, drop_alone"):
        Recipe(layer_criterion="x")
    assert isinstance(TinyResNet(), nn.Module)
