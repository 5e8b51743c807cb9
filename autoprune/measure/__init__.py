"""Measures of a model: parameter counts, serialized size, multiply-accumulates, latency."""

from autoprune.measure._counts import count_flops, count_params
from autoprune.measure._latency import (
    LatencyConfig,
    LatencyMemo,
    architecture_key,
    measure_latency,
    measure_latency_pair,
    torch_threads,
)
from autoprune.measure._size import (
    deployable_state_dict,
    pack_state_dict,
    size_bytes,
    state_dict_size,
    unpack_state_dict,
)

__all__ = [
    "count_params",
    "count_flops",
    "size_bytes",
    "state_dict_size",
    "deployable_state_dict",
    "pack_state_dict",
    "unpack_state_dict",
    "LatencyConfig",
    "LatencyMemo",
    "architecture_key",
    "measure_latency",
    "measure_latency_pair",
    "torch_threads",
]
