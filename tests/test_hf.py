"""Pruned Hugging Face models written with save_pretrained and loaded back (autoprune.hf)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification  # noqa: E402

from autoprune import hf  # noqa: E402
from autoprune.errors import ConfigError, PrunedModelError  # noqa: E402
from autoprune.export import export_model  # noqa: E402
from autoprune.recipe import Recipe  # noqa: E402
from autoprune.tasks import get_task  # noqa: E402
from autoprune.testing.hf import tiny_bert_dir, tiny_vit_dir, write_text_data  # noqa: E402


def _rows(linear: nn.Linear, keep: list[int]) -> None:
    linear.weight = nn.Parameter(linear.weight.detach()[keep].clone())
    linear.bias = nn.Parameter(linear.bias.detach()[keep].clone())
    linear.out_features = len(keep)


def _cols(linear: nn.Linear, keep: list[int]) -> None:
    linear.weight = nn.Parameter(linear.weight.detach()[:, keep].clone())
    linear.in_features = len(keep)


def _layers(model: nn.Module) -> nn.ModuleList:
    return model.bert.encoder.layer if hasattr(model, "bert") else model.vit.layers


def _attention(model: nn.Module, layer: int) -> tuple[nn.Module, tuple[nn.Linear, ...], nn.Linear]:
    """(module holding the head count, (Q, K, V), output projection) of BERT's and ViT's layouts."""
    block = _layers(model)[layer].attention
    if hasattr(block, "self"):  # BERT: attention.self.{query,key,value}, attention.output.dense
        return block.self, (block.self.query, block.self.key, block.self.value), block.output.dense
    return block, (block.q_proj, block.k_proj, block.v_proj), block.o_proj  # ViT (transformers 5)


def remove_head(model: nn.Module, layer: int, head: int) -> None:
    """By hand: the head's rows of Q, K, V and columns of the output projection."""
    module, qkv, out = _attention(model, layer)
    size = getattr(module, "attention_head_size", None) or module.head_dim
    keep = [i for i in range(qkv[0].out_features) if i // size != head]
    for linear in qkv:
        _rows(linear, keep)
    _cols(out, keep)
    module.num_attention_heads = len(keep) // size


def shrink_ffn(model: nn.Module, layer: int, width: int) -> None:
    block = _layers(model)[layer]
    up, down = (block.intermediate.dense, block.output.dense) if hasattr(block, "intermediate") else (
        block.mlp.fc1, block.mlp.fc2)
    keep = list(range(width))
    _rows(up, keep)
    _cols(down, keep)


def _inputs(model: nn.Module) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    if hasattr(model, "bert"):
        return {"input_ids": torch.randint(0, 45, (2, 12), generator=gen)}
    return {"pixel_values": torch.randn(2, 1, 28, 28, generator=gen)}


def _same(a: nn.Module, b: nn.Module) -> bool:
    x = _inputs(a)
    with torch.inference_mode():
        return torch.allclose(a.eval()(**x).logits, b.eval()(**x).logits, atol=1e-5)


@pytest.fixture(params=["bert", "vit"])
def model(request, tmp_path):
    if request.param == "bert":
        path = tiny_bert_dir(tmp_path / "src", head_labels=3, layers=3)
        return AutoModelForSequenceClassification.from_pretrained(path).eval()
    path = tiny_vit_dir(tmp_path / "src", layers=3)
    return AutoModelForImageClassification.from_pretrained(path).eval()


def test_removed_layers_and_uniform_ffn_load_with_plain_from_pretrained(model, tmp_path):
    del _layers(model)[1]
    for i in range(len(_layers(model))):
        shrink_ffn(model, i, 40)
    out = hf.save_pretrained(model, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["intermediate_size"] == 40
    assert config["autoprune_pruned"]["stock_config"] is True
    auto = AutoModelForSequenceClassification if hasattr(model, "bert") else AutoModelForImageClassification
    assert _same(model, auto.from_pretrained(out))
    assert _same(model, hf.from_pretrained(out))


def test_removed_heads_and_per_layer_ffn_need_autoprune_from_pretrained(model, tmp_path):
    remove_head(model, 0, 1)
    remove_head(model, 2, 0)
    remove_head(model, 2, 2)  # the last of the three left
    shrink_ffn(model, 1, 17)
    out = hf.save_pretrained(model, tmp_path / "out")
    structure = json.loads((out / "config.json").read_text())["autoprune_pruned"]
    assert structure["num_attention_heads"] == [3, 4, 2] and structure["intermediate_size"] == [64, 17, 64]
    assert structure["attention_head_size"] == [8, 8, 8] and structure["stock_config"] is False
    loaded = hf.from_pretrained(out)
    assert _same(model, loaded)
    assert _attention(loaded, 2)[0].num_attention_heads == 2
    # the stock loader cannot hold these shapes: it refuses rather than loading wrong weights
    auto = AutoModelForSequenceClassification if hasattr(model, "bert") else AutoModelForImageClassification
    with pytest.raises(Exception):
        auto.from_pretrained(out)


def test_export_format_hf_writes_the_tokenizer_and_checks_outputs(tmp_path):
    path = tiny_bert_dir(tmp_path / "m", head_labels=2)
    data = write_text_data(tmp_path / "d.csv", n=20)
    task = get_task({"kind": "hf-text-classification", "model": str(path), "data": str(data), "max_length": 12})
    model = task.build_model()
    remove_head(model, 1, 2)
    out = export_model(model, task, format="hf", output=tmp_path / "export", recipe=Recipe(), task_name=task.name)
    assert (out / "tokenizer.json").is_file() and (out / "model.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "neg", "1": "pos"}
    assert _same(model, hf.from_pretrained(out))
    # exported again over the same directory: replaced
    export_model(model, task, format="hf", output=out, recipe=Recipe(), task_name=task.name)


def test_bad_inputs(tmp_path):
    with pytest.raises(ConfigError, match=r"format hf needs a Hugging Face model .* Sequential"):
        hf.save_pretrained(nn.Sequential(nn.Linear(2, 2)), tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrunedModelError, match=r"has no config.json"):
        hf.from_pretrained(tmp_path / "empty")
