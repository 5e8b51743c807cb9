"""Size of a model as it would be shipped: ``torch.save`` bytes, dense or sparse-packed."""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

__all__ = ["pack_state_dict", "unpack_state_dict", "size_bytes", "state_dict_size", "deployable_state_dict"]

PACKED_FORMAT = "autoprune.packed/1"

# Every extra tensor in a torch.save archive costs about this much (zip record, 64-byte
# alignment, rebuild opcodes); measured ~245 bytes with torch 2.13. It keeps tiny tensors
# (biases, BN statistics) dense, where two or three tensors would cost more than one.
_PER_TENSOR_OVERHEAD = 256



def deployable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with ``torch.nn.utils.prune`` masks folded in (``w_orig * w_mask`` -> ``w``)."""
    original = model.state_dict()
    sd = _with_metadata(OrderedDict((k, v.detach()) for k, v in original.items()), original)
    for key in [k for k in sd if k.endswith("_mask")]:
        base = key[: -len("_mask")]
        if base + "_orig" in sd:
            sd[base] = sd.pop(base + "_orig") * sd.pop(key)
    return sd


def _with_metadata(new: "OrderedDict[str, torch.Tensor]", old: Mapping[str, Any]) -> "OrderedDict[str, torch.Tensor]":
    # state_dict() carries per-module versions in ``_metadata``; keep them (and their bytes)
    metadata = getattr(old, "_metadata", None)
    if metadata is not None:
        new._metadata = metadata  # type: ignore[attr-defined]
    return new


def _packable(t: torch.Tensor) -> bool:
    return t.dim() >= 1 and t.numel() > 0 and (t.dtype.is_floating_point or t.dtype in (
        torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64))


def _pack_tensor(t: torch.Tensor) -> Any:
    """One tensor as the smallest of dense, bitmask + values, or CSR (estimated bytes)."""
    t = t.detach().cpu()
    if not _packable(t):
        return t.clone()
    flat = t.contiguous().reshape(-1)
    # value test, not bit test: masked weights (w * 0) are often -0.0, which comes back as +0.0
    mask = flat != 0
    nnz = int(mask.sum())
    numel, item = flat.numel(), flat.element_size()
    rows = t.shape[0] if t.dim() >= 2 else 1
    cols = numel // rows
    col_dtype = torch.int16 if cols <= torch.iinfo(torch.int16).max else torch.int32
    ptr_dtype = torch.int32 if nnz <= torch.iinfo(torch.int32).max else torch.int64
    col_size = 2 if col_dtype == torch.int16 else 4
    ptr_size = 4 if ptr_dtype == torch.int32 else 8
    dense = numel * item + _PER_TENSOR_OVERHEAD
    bitmask = math.ceil(numel / 8) + nnz * item + 2 * _PER_TENSOR_OVERHEAD
    csr = nnz * (item + col_size) + (rows + 1) * ptr_size + 3 * _PER_TENSOR_OVERHEAD
    best = min(dense, bitmask, csr)
    shape = list(t.shape)
    if best == dense:
        return t.clone()
    values = flat[mask].clone()
    if best == bitmask:
        bits = torch.from_numpy(np.packbits(mask.numpy()))
        return {"kind": "bitmask", "shape": shape, "mask": bits, "values": values}
    mask2d = mask.reshape(rows, cols)
    col = mask2d.nonzero()[:, 1].to(col_dtype)
    crow = torch.zeros(rows + 1, dtype=torch.int64)
    crow[1:] = mask2d.sum(dim=1).cumsum(0)
    return {"kind": "csr", "shape": shape, "crow": crow.to(ptr_dtype), "col": col, "values": values}


def _unpack_tensor(name: str, entry: Any) -> torch.Tensor:
    if isinstance(entry, torch.Tensor):
        return entry
    if not isinstance(entry, dict) or entry.get("kind") not in ("bitmask", "csr"):
        raise ValueError(f"packed entry {name!r} is neither a tensor nor a bitmask/csr record.")
    shape, values = list(entry["shape"]), entry["values"]
    numel = math.prod(shape)
    if entry["kind"] == "bitmask":
        bits = np.unpackbits(entry["mask"].numpy(), count=numel).astype(bool)
        mask = torch.from_numpy(bits)
        out = torch.zeros(numel, dtype=values.dtype)
        if int(mask.sum()) != values.numel():
            raise ValueError(f"packed entry {name!r}: mask has {int(mask.sum())} ones for {values.numel()} values.")
    else:
        crow, col = entry["crow"].long(), entry["col"].long()
        rows = len(crow) - 1
        cols = numel // max(rows, 1)
        if int(crow[-1]) != values.numel() or col.numel() != values.numel():
            raise ValueError(f"packed entry {name!r}: CSR pointers do not match its {values.numel()} values.")
        row = torch.repeat_interleave(torch.arange(rows), crow.diff())
        mask = torch.zeros(numel, dtype=torch.bool)
        mask[row * cols + col] = True
        out = torch.zeros(numel, dtype=values.dtype)
    out[mask] = values
    return out.reshape(shape)


def pack_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Pack every tensor of a state dict to its smallest form; :func:`unpack_state_dict` inverts it.

    Each tensor becomes the smallest (by estimated serialized bytes) of: itself (dense);
    ``{"kind": "bitmask", "mask": packed bits of the non-zero pattern, "values": ...}``;
    or ``{"kind": "csr", "crow": int32 row pointers, "col": int16/int32 column indices,
    "values": ...}`` over the tensor viewed as 2-D (rows = dim 0). The result holds only
    tensors and plain Python values, so ``torch.load(weights_only=True)`` reads it.
    Tensors are moved to CPU.

    Example:
        >>> sd = {"w": torch.tensor([[0.0, 2.0], [0.0, 0.0]])}
        >>> torch.equal(unpack_state_dict(pack_state_dict(sd))["w"], sd["w"])
        True
    """
    return {"format": PACKED_FORMAT, "tensors": {k: _pack_tensor(v) for k, v in state_dict.items()}}


def unpack_state_dict(packed: Mapping[str, Any]) -> "OrderedDict[str, torch.Tensor]":
    """Invert :func:`pack_state_dict` exactly: same keys, dtypes, shapes and values.

    Zeros come back as ``+0.0`` (a masked ``-0.0`` compares equal); every non-zero value,
    NaN included, keeps its bit pattern.

    Raises:
        ValueError: ``packed`` is not the output of :func:`pack_state_dict`.
    """
    if not isinstance(packed, Mapping) or packed.get("format") != PACKED_FORMAT:
        found = packed.get("format") if isinstance(packed, Mapping) else type(packed).__name__
        raise ValueError(f"expected a packed state dict of format {PACKED_FORMAT!r}, but got {found!r}.")
    return OrderedDict((k, _unpack_tensor(k, v)) for k, v in packed["tensors"].items())


def _saved_len(obj: Any) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes


def state_dict_size(state_dict: Mapping[str, torch.Tensor], sparse: bool) -> int:
    """Bytes of ``torch.save(state_dict)`` (``sparse=False``) or of its packed form (``sparse=True``)."""
    if sparse:
        return _saved_len(pack_state_dict(state_dict))
    return _saved_len(_with_metadata(OrderedDict((k, v.detach().cpu()) for k, v in state_dict.items()), state_dict))


def size_bytes(model: nn.Module, sparse: bool) -> int:
    """Size of the serialized model in its deployable form (pruning masks folded in).

    Args:
        model: the model; ``torch.nn.utils.prune`` masks are folded into the weights.
        sparse: measure the packed form of :func:`pack_state_dict` (what an unstructured
            or N:M pruned model ships as) instead of the dense ``torch.save`` of the
            state dict.

    Example:
        >>> layer = nn.Linear(512, 512)
        >>> with torch.no_grad():
        ...     _ = layer.weight.mul_(torch.rand(512, 512) > 0.9)
        >>> size_bytes(layer, sparse=True) < 0.2 * size_bytes(layer, sparse=False)
        True
    """
    return state_dict_size(deployable_state_dict(model), sparse=sparse)
