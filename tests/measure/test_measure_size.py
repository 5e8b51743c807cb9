from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from autoprune.measure import (
    pack_state_dict,
    size_bytes,
    state_dict_size,
    unpack_state_dict,
)


def _saved_len(obj) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return len(buf.getvalue())


def _sparse(shape, density, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=gen).to(dtype)
    return values * (torch.rand(shape, generator=gen) < density)


def _kind(entry) -> str:
    return entry["kind"] if isinstance(entry, dict) else "dense"


def test_dense_size_is_torch_save_length():
    model = nn.Linear(10, 3)
    assert size_bytes(model, sparse=False) == _saved_len(model.state_dict())


def test_ninety_percent_sparse_512x512_is_under_a_fifth_of_dense():
    layer = nn.Linear(512, 512)
    with torch.no_grad():
        layer.weight.copy_(_sparse((512, 512), 0.1))
    assert size_bytes(layer, sparse=True) < 0.2 * size_bytes(layer, sparse=False)


def test_each_form_is_chosen_where_it_is_smallest():
    packed = pack_state_dict(
        {
            "full": torch.randn(64, 64),  # nothing to gain: stays dense
            "half": _sparse((64, 64), 0.5),  # 4096/8 mask bytes + values beats CSR's 2-byte columns
            "rare": _sparse((256, 256), 0.01),  # ~655 values: CSR beats an 8 KiB bitmask
            "bias": torch.zeros(8),  # tiny: one tensor costs less than two or three
            "steps": torch.tensor(3),  # 0-d tensors stay as they are
        }
    )["tensors"]
    assert {k: _kind(v) for k, v in packed.items()} == {
        "full": "dense", "half": "bitmask", "rare": "csr", "bias": "dense", "steps": "dense"
    }
    rare = packed["rare"]
    assert rare["col"].dtype == torch.int16 and rare["crow"].dtype == torch.int32
    assert rare["crow"].shape == (257,)
    assert packed["half"]["mask"].dtype == torch.uint8 and packed["half"]["mask"].numel() == 4096 // 8


def test_chosen_form_is_really_the_smallest_when_saved():
    """The estimate that picks a form agrees with the bytes torch.save writes."""
    for density in (1.0, 0.5, 0.01):
        t = _sparse((256, 256), density, seed=1)
        entry = pack_state_dict({"w": t})["tensors"]["w"]
        chosen = _saved_len(entry)
        dense = _saved_len(t)
        mask = t != 0
        flat = t.reshape(-1)
        bitmask = {"kind": "bitmask", "shape": [256, 256],
                   "mask": torch.from_numpy(np.packbits(mask.reshape(-1).numpy())), "values": flat[mask.reshape(-1)]}
        col = mask.nonzero()[:, 1].to(torch.int16)
        crow = torch.cat([torch.zeros(1, dtype=torch.int32), mask.sum(1).cumsum(0).to(torch.int32)])
        csr = {"kind": "csr", "shape": [256, 256], "crow": crow, "col": col, "values": flat[mask.reshape(-1)]}
        assert chosen == min(dense, _saved_len(bitmask), _saved_len(csr)), density


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64])
def test_pack_unpack_round_trip_is_exact(dtype):
    sd = {
        "conv.weight": _sparse((8, 4, 3, 3), 0.3, dtype=dtype),
        "fc.weight": _sparse((3, 40000), 0.01, seed=2, dtype=dtype),  # cols > int16: int32 indices
        "fc.bias": _sparse((3,), 0.5, seed=3, dtype=dtype),
        "empty": torch.zeros(0, 5, dtype=dtype),
        "steps": torch.tensor(7),
        "flags": torch.tensor([True, False]),
    }
    packed = pack_state_dict(sd)
    assert packed["tensors"]["fc.weight"]["col"].dtype == torch.int32
    buf = io.BytesIO()
    torch.save(packed, buf)
    buf.seek(0)
    restored = unpack_state_dict(torch.load(buf, weights_only=True))
    assert list(restored) == list(sd)
    for key, tensor in sd.items():
        assert restored[key].dtype == tensor.dtype and restored[key].shape == tensor.shape, key
        assert torch.equal(restored[key], tensor), key


def test_round_trip_keeps_nan_and_inf_values():
    t = torch.zeros(64, 64)
    t[0, 0], t[5, 7], t[63, 63] = math.nan, math.inf, -2.5
    back = unpack_state_dict(pack_state_dict({"w": t}))["w"]
    assert torch.equal(torch.isnan(back), torch.isnan(t))
    assert back[5, 7] == math.inf and back[63, 63] == -2.5 and int((back != 0).sum()) == 3


def test_size_folds_pruning_masks():
    layer = nn.Linear(256, 256, bias=False)
    prune.random_unstructured(layer, "weight", amount=0.95)
    folded = nn.Linear(256, 256, bias=False)
    with torch.no_grad():
        folded.weight.copy_(layer.weight)
    assert size_bytes(layer, sparse=True) == size_bytes(folded, sparse=True)
    assert size_bytes(layer, sparse=False) == size_bytes(folded, sparse=False)


def test_state_dict_size_matches_size_bytes():
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
    for sparse in (False, True):
        assert state_dict_size(model.state_dict(), sparse=sparse) == size_bytes(model, sparse=sparse)


def test_unpack_rejects_foreign_input():
    with pytest.raises(ValueError, match="expected a packed state dict of format 'autoprune.packed/1'"):
        unpack_state_dict({"weight": torch.zeros(2)})
