"""Attention heads and feed-forward neurons of transformer layers: found, scored, removed.

Units are found by structure (no model class is named): an attention module is one with
an integer head count (``num_attention_heads``, ``num_heads``, ``n_heads`` or ``n_head``)
and three ``nn.Linear`` children for queries, keys and values (``query``/``key``/``value``,
``q_proj``/``k_proj``/``v_proj``, ``q_lin``/``k_lin``/``v_lin`` or ``q``/``k``/``v``) of equal
width, a multiple of the head count: Hugging Face BERT, ViT, RoBERTa, DistilBERT and
most encoders. The output projection is whatever Torch-Pruning's dependency graph couples
to the heads' channels; removing a head cuts the same indices of Q, K, V (out-features)
and the output projection (in-features) through one graph group, then the module's
head-count attributes are updated so its forward (which reshapes to ``(-1, head_size)``)
and its ``__repr__`` agree with the weights.

A feed-forward block is a ``nn.Linear`` of a transformer layer (the element of a
``ModuleList`` / ``Sequential`` that holds one attention module) that widens its input
and is not a projection of the attention; its neurons are its output features, and the
graph must couple them to exactly one consuming ``nn.Linear`` (the down projection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch_pruning as tp
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning._layers import HEAD_ATTRS
from autoprune.pruning.criteria import weight_scores
from autoprune.recipe import Recipe
from autoprune.tasks import Task

__all__ = [
    "HEAD_ATTRS",
    "QKV_NAMES",
    "Attention",
    "qkv",
    "attention_modules",
    "ffn_layers",
    "layer_of",
    "down_projection",
    "attention_projections",
    "head_dim",
    "head_count",
    "head_scores",
    "neuron_scores",
    "remove_heads",
    "remove_neurons",
    "sync_attributes",
]

QKV_NAMES = (("query", "key", "value"), ("q_proj", "k_proj", "v_proj"), ("q_lin", "k_lin", "v_lin"), ("q", "k", "v"))
_HEAD_SIZE_ATTRS = ("attention_head_size", "head_dim", "head_size")
_WIDTH_ATTRS = ("all_head_size", "inner_dim")


def _kept(name: str, recipe: Recipe) -> bool:
    return any(name == k or name.startswith(k + ".") for k in recipe.keep_layers)


def qkv(module: nn.Module) -> tuple[nn.Linear, nn.Linear, nn.Linear] | None:
    for names in QKV_NAMES:
        parts = [getattr(module, n, None) for n in names]
        if all(isinstance(p, nn.Linear) for p in parts):
            return parts[0], parts[1], parts[2]  # type: ignore[return-value]
    return None


def head_count(module: nn.Module) -> int | None:
    """The module's head count attribute, or None."""
    for attr in HEAD_ATTRS:
        value = getattr(module, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def head_dim(module: nn.Module) -> int:
    """Features per head: the module's head-size attribute, else the query width / heads."""
    for attr in _HEAD_SIZE_ATTRS:
        value = getattr(module, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    q = qkv(module)[0]  # type: ignore[index]
    return q.out_features // head_count(module)  # type: ignore[operator]


def attention_modules(model: nn.Module, recipe: Recipe | None = None) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every attention module (see the module docstring), in module
    order, those under ``recipe.keep_layers`` left out."""
    out = []
    for name, module in model.named_modules():
        heads, projections = head_count(module), qkv(module)
        if heads is None or projections is None or (recipe is not None and _kept(name, recipe)):
            continue
        widths = {lin.out_features for lin in projections}
        if len(widths) == 1 and widths.pop() % heads == 0:
            out.append((name, module))
    return out


@dataclass
class Attention:
    """One attention module with its projections; ``o`` found through the dependency graph."""

    name: str
    module: nn.Module
    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    o: nn.Linear

    @property
    def heads(self) -> int:
        return self.q.out_features // head_dim(self.module)


def attention_projections(model: nn.Module, graph: tp.DependencyGraph, modules: Iterable[tuple[str, nn.Module]]) -> list[Attention]:
    """The attention modules whose heads the graph couples as one: the first head's query
    channels pull the same key and value channels and one output projection's inputs.

    Raises:
        ConfigError: an attention module the graph does not couple that way.
    """
    out = []
    for name, module in modules:
        q, k, v = qkv(module)  # type: ignore[misc]
        d = head_dim(module)
        group = graph.get_pruning_group(q, tp.prune_linear_out_channels, list(range(d)))
        outs, ins = set(), []
        for dep, idxs in group:
            target = dep.target.module
            if isinstance(target, nn.Linear):
                if graph.is_out_channel_pruning_fn(dep.handler):
                    outs.add(target)
                elif target not in ins:
                    ins.append(target)
        if outs != {q, k, v} or len(ins) != 1:
            raise ConfigError(
                f"granularity=head needs attention whose heads the dependency graph couples (query, key, "
                f"value and one output projection), but module {name!r} is coupled to "
                f"{len(outs)} projection(s) and {len(ins)} output(s); allowed: BERT/ViT-style self-attention."
            )
        out.append(Attention(name, module, q, k, v, ins[0]))
    return out


def layer_of(name: str, model: nn.Module) -> str | None:
    """The name of the element of a ModuleList / Sequential that holds module ``name``."""
    modules = dict(model.named_modules())
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = modules.get(".".join(parts[: i - 1])) if i > 1 else model
        if isinstance(parent, (nn.ModuleList, nn.Sequential)) and parts[i - 1].isdigit():
            return ".".join(parts[:i])
    return None


def ffn_layers(model: nn.Module, recipe: Recipe) -> list[tuple[str, nn.Linear]]:
    """``(name, up projection)`` of every feed-forward block of a transformer layer: a layer
    (see the module docstring) whose Linears outside its attention block are exactly two,
    in module order ``up`` (from the hidden width, that of the attention's input) and
    ``down`` (back to it), the one's outputs the other's inputs. Widths do not decide
    which is which, so a block pruned below the hidden width is still found."""
    modules = dict(model.named_modules())
    out = []
    for name, attention in attention_modules(model):
        layer = layer_of(name, model)
        if layer is None:
            continue
        parent = name.rpartition(".")[0]
        block = parent if parent.startswith(layer + ".") else name  # self-attention + output projection
        hidden = qkv(attention)[0].in_features  # type: ignore[index]
        linears = [(n, m) for n, m in modules[layer].named_modules(prefix=layer)
                   if isinstance(m, nn.Linear) and not n.startswith(block + ".") and n != block]
        if len(linears) != 2:
            continue
        (up_name, up), (_, down) = linears
        if up.in_features == hidden and down.out_features == hidden and up.out_features == down.in_features:
            if not _kept(up_name, recipe):
                out.append((up_name, up))
    return out


def down_projection(graph: tp.DependencyGraph, name: str, up: nn.Linear) -> nn.Linear:
    """The one Linear consuming the neurons of ``up``.

    Raises:
        ConfigError: the neurons are coupled to more than that (a gated FFN, a residual).
    """
    group = graph.get_pruning_group(up, tp.prune_linear_out_channels, [0])
    outs, ins = [], []
    for dep, _ in group:
        target = dep.target.module
        if isinstance(target, nn.modules.conv._ConvNd | nn.Linear | nn.Embedding):
            (outs if graph.is_out_channel_pruning_fn(dep.handler) else ins).append(target)
    if outs != [up] or len(set(ins)) != 1 or not isinstance(ins[0], nn.Linear):
        raise ConfigError(
            f"granularity=ffn needs feed-forward blocks Linear -> activation -> Linear, but the neurons of "
            f"{name!r} are coupled to {len(outs)} producing and {len(set(ins))} consuming layers; "
            f"allowed: BERT/ViT-style feed-forward blocks (keep_layers can leave this one out)."
        )
    return ins[0]


def head_scores(units: list[Attention], model: nn.Module, task: Task | None, recipe: Recipe) -> list[torch.Tensor]:
    """Per unit, one score per head: the criterion's scores of the head's Q, K, V rows and
    output-projection columns, summed."""
    pairs = []
    for i, u in enumerate(units):
        pairs += [(f"{i}.q", u.q), (f"{i}.k", u.k), (f"{i}.v", u.v), (f"{i}.o", u.o)]
    s = weight_scores(recipe.criterion, pairs, model, task, recipe)
    out = []
    for i, u in enumerate(units):
        per_channel = s[f"{i}.q"].sum(1) + s[f"{i}.k"].sum(1) + s[f"{i}.v"].sum(1) + s[f"{i}.o"].sum(0)
        out.append(per_channel.detach().float().cpu().view(u.heads, -1).sum(1))
    return out


def neuron_scores(units: list[tuple[str, nn.Linear, nn.Linear]], model: nn.Module, task: Task | None,
                  recipe: Recipe) -> list[torch.Tensor]:
    """Per FFN block, one score per neuron: its up-projection row and down-projection column."""
    pairs = []
    for i, (_, up, down) in enumerate(units):
        pairs += [(f"{i}.up", up), (f"{i}.down", down)]
    s = weight_scores(recipe.criterion, pairs, model, task, recipe)
    return [(s[f"{i}.up"].sum(1) + s[f"{i}.down"].sum(0)).detach().float().cpu() for i in range(len(units))]


def remove_heads(graph: tp.DependencyGraph, unit: Attention, heads: Iterable[int]) -> None:
    """Remove ``heads`` (indices among the current ones) from ``unit`` through the graph."""
    d = head_dim(unit.module)
    idxs = sorted(h * d + j for h in set(int(h) for h in heads) for j in range(d))
    if not idxs:
        return
    if len(idxs) >= unit.q.out_features:
        raise ConfigError(f"removing every head of {unit.name!r} is not allowed; at least one head stays.")
    group = graph.get_pruning_group(unit.q, tp.prune_linear_out_channels, idxs)
    group.prune()
    sync_attention(unit.module)


def remove_neurons(graph: tp.DependencyGraph, up: nn.Linear, neurons: Iterable[int]) -> None:
    """Remove ``neurons`` of an FFN block (its up projection's outputs) through the graph."""
    idxs = sorted(set(int(i) for i in neurons))
    if idxs:
        graph.get_pruning_group(up, tp.prune_linear_out_channels, idxs).prune()


def sync_attention(module: nn.Module) -> None:
    """Set the head-count and width attributes of an attention module from its query width."""
    d = head_dim(module)
    q = qkv(module)[0]  # type: ignore[index]
    for attr in HEAD_ATTRS:
        if isinstance(getattr(module, attr, None), int):
            setattr(module, attr, q.out_features // d)
    for attr in _WIDTH_ATTRS:
        if isinstance(getattr(module, attr, None), int):
            setattr(module, attr, q.out_features)


def sync_attributes(model: nn.Module) -> nn.Module:
    """Make a pruned (or resized) transformer's attributes agree with its weights: each
    attention module's head count and width, and where the model has a ``config``: the FFN
    width (``intermediate_size``) when every block has the same one, ``num_hidden_layers``
    when the layers live in one ``ModuleList`` of that attribute's former length."""
    for _, module in attention_modules(model):
        sync_attention(module)
    config = getattr(model, "config", None)
    if config is None:
        return model
    widths = {m.out_features for _, m in ffn_layers(model, Recipe())}
    if len(widths) == 1 and isinstance(getattr(config, "intermediate_size", None), int):
        config.intermediate_size = widths.pop()
    return model
