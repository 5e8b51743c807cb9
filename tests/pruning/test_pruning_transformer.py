"""Heads and FFN neurons of tiny BERT / ViT models: pruned outputs equal the masked originals."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from autoprune.errors import ConfigError  # noqa: E402
from autoprune.pruning._transformer import head_dim  # noqa: E402
from autoprune.pruning import GRANULARITIES, Pruner, prune_channels, prune_ffn, prune_heads  # noqa: E402
from autoprune.recipe import Recipe  # noqa: E402
from autoprune.tasks import call_model  # noqa: E402
from autoprune.testing.pruning import TinyTask, check_granularity  # noqa: E402
from autoprune.testing.transformers import (  # noqa: E402
    TinyImageTask,
    TinyTextTask,
    logits_of,
    tiny_bert,
    tiny_vit,
)

TASKS = {"bert": TinyTextTask, "vit": TinyImageTask}


def _task(kind: str, **kw):
    torch.manual_seed(0)
    build = {"bert": tiny_bert, "vit": tiny_vit}[kind]
    return TASKS[kind](lambda: build(**kw))


def _encoder_layers(model: nn.Module) -> nn.ModuleList:
    return model.bert.encoder.layer if hasattr(model, "bert") else model.vit.layers


def _attn(layer: nn.Module) -> tuple[nn.Module, nn.Linear, nn.Linear]:
    """(self-attention module, query, output projection) of a BERT or ViT layer."""
    if hasattr(layer.attention, "self"):
        return layer.attention.self, layer.attention.self.query, layer.attention.output.dense
    return layer.attention, layer.attention.q_proj, layer.attention.o_proj


def _ffn(layer: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    if hasattr(layer, "intermediate"):
        return layer.intermediate.dense, layer.output.dense
    return layer.mlp.fc1, layer.mlp.fc2


def _heads(model: nn.Module) -> list[int]:
    return [_attn(layer)[0].num_attention_heads for layer in _encoder_layers(model)]


def _kept_rows(original: torch.Tensor, pruned: torch.Tensor, block: int) -> list[int]:
    """Which ``block``-row blocks of ``original`` survive in ``pruned`` (in order)."""
    kept, j = [], 0
    for i in range(original.shape[0] // block):
        if j < pruned.shape[0] // block and torch.equal(original[i * block:(i + 1) * block], pruned[j * block:(j + 1) * block]):
            kept.append(i)
            j += 1
    assert j == pruned.shape[0] // block, "pruned rows are not a subset of the original rows"
    return kept


def _outputs(model: nn.Module, task) -> torch.Tensor:
    with torch.no_grad():
        return logits_of(call_model(model.eval(), task.example_input(8)))


@pytest.mark.parametrize("kind", ["bert", "vit"])
@pytest.mark.parametrize("criterion", ["magnitude_l1", "taylor", "wanda"])
def test_pruned_heads_equal_masked_heads(kind: str, criterion: str) -> None:
    task = _task(kind)
    model = task.build_model().eval()
    masked = copy.deepcopy(model)
    prune_heads(model, task, Recipe(granularity="head", criterion=criterion), 0.5)
    for layer, ref in zip(_encoder_layers(model), _encoder_layers(masked)):
        attn, q, o = _attn(layer)
        _, ref_q, ref_o = _attn(ref)
        assert attn.num_attention_heads == 2 and q.out_features == 16 and o.in_features == 16
        assert all(getattr(attn, a, 16) == 16 for a in ("all_head_size",))
        kept = _kept_rows(ref_q.weight, q.weight, 8)
        with torch.no_grad():  # masking a head: its contribution through the output projection is zero
            for h in set(range(4)) - set(kept):
                ref_o.weight[:, h * 8:(h + 1) * 8] = 0
    torch.testing.assert_close(_outputs(model, task), _outputs(masked, task), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["bert", "vit"])
def test_pruned_neurons_equal_masked_neurons(kind: str) -> None:
    task = _task(kind)
    model = task.build_model().eval()
    masked = copy.deepcopy(model)
    prune_ffn(model, task, Recipe(granularity="ffn"), 0.75)
    for layer, ref in zip(_encoder_layers(model), _encoder_layers(masked)):
        (up, down), (ref_up, ref_down) = _ffn(layer), _ffn(ref)
        assert up.out_features == down.in_features == 16
        kept = _kept_rows(ref_up.weight, up.weight, 1)
        with torch.no_grad():
            for j in set(range(64)) - set(kept):
                ref_down.weight[:, j] = 0
    assert model.config.intermediate_size == 16
    torch.testing.assert_close(_outputs(model, task), _outputs(masked, task), rtol=1e-5, atol=1e-5)


def test_at_least_one_head_stays() -> None:
    task = _task("bert")
    model = prune_heads(task.build_model(), task, Recipe(granularity="head"), 0.99)
    assert _heads(model) == [1, 1]
    model = prune_heads(task.build_model(), task, Recipe(granularity="head", allocation="global"), 0.99,
                        global_ranking=True)
    assert _heads(model) == [1, 1]


def test_global_heads_reach_the_total() -> None:
    task = _task("bert", layers=3)
    model = prune_heads(task.build_model(), task, Recipe(granularity="head"), 0.5, global_ranking=True)
    assert sum(_heads(model)) == 6
    assert len(_outputs(model, task)) == 8


def test_keep_layers_leaves_a_layer_whole() -> None:
    task = _task("bert")
    recipe = Recipe(granularity="head+ffn", head_sparsity=0.5, keep_layers=("bert.encoder.layer.1",))
    model = task.build_model()
    pruner = Pruner(recipe, task)
    model = pruner.finalize(pruner.step(model, recipe.effective_sparsity))
    first, second = _encoder_layers(model)
    assert _attn(first)[0].num_attention_heads == 2 and _ffn(first)[0].out_features == 32
    assert _attn(second)[0].num_attention_heads == 4 and _ffn(second)[0].out_features == 64


@pytest.mark.parametrize("allocation", ["uniform", "global", "sensitivity"])
def test_head_plus_ffn_recipe(allocation: str) -> None:
    task = _task("vit")
    recipe = Recipe(granularity="head+ffn", head_sparsity=0.25, ffn_sparsity=0.4, allocation=allocation,
                    schedule="iterative", steps=2)
    assert recipe.summary().startswith("head 0.25 + ffn 0.40")
    model, pruner = task.build_model(), Pruner(recipe, task)
    for target in (0.2, 0.4):
        model = pruner.step(model, target)
    heads = sum(_heads(model))
    neurons = sum(_ffn(layer)[0].out_features for layer in _encoder_layers(model))
    assert abs(heads - 6) <= 1 and abs(neurons - round(128 * 0.6)) <= 1
    assert _outputs(model, task).shape == (8, 3)


def test_head_plus_ffn_needs_a_fraction() -> None:
    with pytest.raises(ConfigError, match="head_sparsity > 0 or ffn_sparsity > 0"):
        Recipe(granularity="head+ffn", head_sparsity=0.0, ffn_sparsity=0.0)


@pytest.mark.parametrize("name, kind", [("head", "bert"), ("ffn", "bert"), ("head+ffn", "bert"),
                                        ("head", "vit"), ("ffn", "vit")])
def test_contract(name: str, kind: str) -> None:
    check_granularity(GRANULARITIES.get(name), _task(kind, layers=2))


@pytest.mark.parametrize("name", ["head", "ffn", "head+ffn"])
def test_a_model_without_attention_is_refused_in_one_line(name: str) -> None:
    task = TinyTask()
    with pytest.raises(ConfigError) as err:
        GRANULARITIES.get(name).check_model(task.build_model(), task, Recipe(granularity=name))
    assert "\n" not in str(err.value) and "needs" in str(err.value) and "allowed" in str(err.value)


@pytest.mark.parametrize("kind", ["bert", "vit"])
def test_channel_on_a_transformer_keeps_heads_whole(kind: str) -> None:
    task = _task(kind)
    model = prune_channels(task.build_model(), task, Recipe(granularity="channel"), 0.3)
    for layer in _encoder_layers(model):
        attn, q, _ = _attn(layer)
        assert q.out_features == attn.num_attention_heads * head_dim(attn)
    assert _outputs(model, task).shape == (8, 3)


@pytest.mark.parametrize("kind", ["bert", "vit"])
@pytest.mark.parametrize("recipe", [Recipe(granularity="unstructured", sparsity=0.5),
                                    Recipe(granularity="unstructured", criterion="wanda", allocation="global"),
                                    Recipe(granularity="nm", criterion="wanda"),
                                    Recipe(granularity="nm", criterion="magnitude_l1", nm_n=1, nm_m=4)],
                         ids=lambda r: r.summary().split(" ft")[0])
def test_masks_on_every_linear_but_classifier_and_embeddings(kind: str, recipe: Recipe) -> None:
    from autoprune.pruning import prunable_layers

    task = _task(kind)
    model = task.build_model()
    names = [n for n, _ in prunable_layers(model, recipe)]
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert names == linears[:-1]  # every Linear but the classifier; no embedding layer (ViT's patch conv)
    kept = {n: p.detach().clone() for n, p in model.named_parameters() if "embeddings" in n or "classifier" in n}
    pruner = Pruner(recipe, task)
    model = pruner.finalize(pruner.step(model, recipe.effective_sparsity))
    modules = dict(model.named_modules())
    zeros = sum(int((modules[n].weight == 0).sum()) for n in names) / sum(modules[n].weight.numel() for n in names)
    assert abs(zeros - recipe.effective_sparsity) < 0.01
    assert all(torch.equal(p, kept[n]) for n, p in model.named_parameters() if n in kept)
    assert _outputs(model, task).shape == (8, 3)
