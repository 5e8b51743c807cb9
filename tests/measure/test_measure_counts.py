from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from autoprune.measure import count_flops, count_params


def test_count_params_total_and_nonzero_by_hand():
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
        layer.bias.copy_(torch.tensor([0.0, 5.0]))
    assert count_params(layer) == (8, 4)


def test_count_params_reads_masked_weights_through_their_mask():
    layer = nn.Linear(4, 4, bias=False)
    nn.init.ones_(layer.weight)
    prune.custom_from_mask(layer, "weight", torch.eye(4))
    assert count_params(layer) == (16, 4)


def test_count_flops_mlp_by_hand():
    model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 10))
    assert count_flops(model, torch.zeros(1, 64)) == 64 * 512 + 512 * 10


def test_count_flops_conv_by_hand_and_restores_training_mode():
    # 3x3 conv 2->4 with padding on 5x5: 25 positions * 4 out * 2 in * 9 taps
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    model.train()
    assert count_flops(model, torch.zeros(1, 2, 5, 5)) == 25 * 4 * 2 * 9
    assert model.training


def test_count_flops_ignores_zeros_in_dense_kernels_but_sees_removed_channels():
    dense = nn.Linear(16, 8)
    masked = nn.Linear(16, 8)
    with torch.no_grad():
        masked.weight.zero_()
    narrow = nn.Linear(16, 4)
    x = torch.zeros(1, 16)
    assert count_flops(masked, x) == count_flops(dense, x) == 128
    assert count_flops(narrow, x) == 64


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3, bias=False)
        self.b = nn.Linear(6, 3, bias=False)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def test_count_flops_tuple_and_dict_inputs():
    model = _TwoInputs()
    x, y = torch.zeros(2, 4), torch.zeros(2, 6)
    expected = 2 * (4 * 3 + 6 * 3)
    assert count_flops(model, (x, y)) == expected
    assert count_flops(model, {"x": x, "y": y}) == expected


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_count_flops_of_a_tiny_bert_includes_attention(attention):
    """By hand: per layer and token, Q/K/V/output projections 4*H*H and the FFN 2*H*I MACs;
    per layer, the scores Q @ K^T and scores @ V 2*S*S*H; then the pooler H*H and the head
    H*labels. The same whether attention runs as matmuls (eager) or through
    scaled_dot_product_attention (sdpa), and what torch's own counter says of eager."""
    transformers = pytest.importorskip("transformers")
    from torch.utils.flop_counter import FlopCounterMode

    H, L, A, I, S, V = 32, 2, 4, 64, 16, 100
    config = transformers.BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=A,
                                     intermediate_size=I, max_position_embeddings=64, num_labels=3,
                                     attn_implementation=attention)
    model = transformers.BertForSequenceClassification(config).eval()
    inputs = {"input_ids": torch.randint(0, V, (1, S)), "attention_mask": torch.ones(1, S, dtype=torch.long)}
    by_hand = L * (S * (4 * H * H + 2 * H * I) + 2 * S * S * H) + H * H + H * 3
    assert count_flops(model, inputs) == by_hand
    eager = transformers.BertForSequenceClassification(
        transformers.BertConfig(**{**config.to_dict(), "attn_implementation": "eager"})).eval()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        eager(**inputs)
    assert counter.get_total_flops() // 2 == by_hand
