from __future__ import annotations

import pytest
import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning import apply_mask, effective_weight, prunable_layers
from autoprune.recipe import Recipe


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


class _Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Conv2d(4, 4, 1))
        self.block2 = nn.Sequential(nn.Linear(4, 4))
        self.attn = nn.MultiheadAttention(4, 2)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 3)


def test_classifier_left_out_unless_asked() -> None:
    assert [n for n, _ in prunable_layers(_mlp(), Recipe())] == ["0", "2"]
    assert [n for n, _ in prunable_layers(_mlp(), Recipe(prune_classifier=True))] == ["0", "2", "4"]


def test_module_order_types_and_attention_out_proj_excluded() -> None:
    layers = prunable_layers(_Nested(), Recipe())
    assert [n for n, _ in layers] == ["block.0", "block.1", "block2.0"]
    assert isinstance(layers[0][1], nn.Conv1d)


def test_keep_layers_by_name_and_prefix_not_substring() -> None:
    model = _Nested()
    assert [n for n, _ in prunable_layers(model, Recipe(keep_layers=("block",)))] == ["block2.0"]
    assert [n for n, _ in prunable_layers(model, Recipe(keep_layers=("block.1",)))] == ["block.0", "block2.0"]


def test_unknown_keep_layer_is_named() -> None:
    message = r"keep_layers must name modules of the model, but got 'nope'; module names: '0', '1'"
    with pytest.raises(ConfigError, match=message):
        prunable_layers(_mlp(), Recipe(keep_layers=("nope",)))


def test_nothing_to_prune() -> None:
    with pytest.raises(ConfigError, match=r"no prunable layer .* classifier '4' and keep_layers=\['0', '2'\]"):
        prunable_layers(_mlp(), Recipe(keep_layers=("0", "2")))
    with pytest.raises(ConfigError, match="no prunable layer"):
        prunable_layers(nn.Sequential(nn.Linear(3, 2)), Recipe())


def test_effective_weight_follows_mask_after_weight_orig_changes() -> None:
    lin = nn.Linear(2, 1, bias=False)
    apply_mask(lin, torch.tensor([[True, False]]))
    with torch.no_grad():
        lin.weight_orig.copy_(torch.tensor([[5.0, 7.0]]))  # like an optimizer step: lin.weight is now stale
    assert effective_weight(lin).tolist() == [[5.0, 0.0]]
