"""Saving and loading pruned models in a form ``torch.load(weights_only=True)`` accepts.

A channel-pruned model has other tensor shapes than ``task.build_model()``. The file
holds the (optionally sparse-packed) state dict, the recipe and the task name; loading
builds the task's model, resizes the layers whose saved shapes differ, then loads the
weights strictly. No module objects are pickled (``torch_pruning.serialization`` pickles
module ``__dict__``, which ``weights_only`` refuses).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from autoprune._io import atomic_path
from autoprune.errors import AutopruneError, ConfigError, PrunedModelError
from autoprune.measure import deployable_state_dict, pack_state_dict, unpack_state_dict
from autoprune.pruning._transformer import sync_attributes
from autoprune.pruning.depth import restore_depth
from autoprune.recipe import Recipe
from autoprune.tasks import Task

__all__ = ["FORMAT", "PrunedModelError", "save_pruned", "load_pruned", "resize_to_state_dict"]

FORMAT = "autoprune.pruned/1"


def save_pruned(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    recipe: Recipe,
    task_name: str,
    sparse: bool,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` with its recipe to ``path`` atomically; return the path.

    Args:
        path: the file to write (its directory is created).
        model: the pruned model; ``torch.nn.utils.prune`` masks are folded in.
        recipe: the recipe that produced it.
        task_name: the task it belongs to (checked by :func:`load_pruned`).
        sparse: store the state dict packed (:func:`autoprune.measure.pack_state_dict`),
            for unstructured / N:M pruning; channel-pruned models are smaller dense.
        extra: more values to store (metrics, seed): plain Python values and tensors only.

    Example:
        >>> import tempfile, pathlib
        >>> from autoprune import get_task
        >>> task = get_task("digits-mlp")
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
        >>> _ = save_pruned(path, task.build_model(), recipe=Recipe(), task_name=task.name, sparse=True)
        >>> model, info = load_pruned(path, task)
        >>> info["task"]
        'digits-mlp'
    """
    if extra is not None:
        _check_plain("extra", extra)
    state_dict = {k: v.detach().cpu() for k, v in deployable_state_dict(model).items()}
    payload = {
        "format": FORMAT,
        "task": task_name,
        "recipe": recipe.to_dict(),
        "sparse": bool(sparse),
        "state_dict": pack_state_dict(state_dict) if sparse else state_dict,
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_pruned(path: str | os.PathLike[str], task: Task) -> tuple[nn.Module, dict[str, Any]]:
    """Load a file written by :func:`save_pruned` into ``task``'s model, resized to fit.

    Returns:
        ``(model, info)``: the model in eval mode, and ``info`` with ``task``, ``recipe``
        (a :class:`Recipe`), ``sparse`` and ``extra``.

    Raises:
        PrunedModelError: the file is missing, not a pruned-model file, of another task,
            or its weights do not fit the task's model.
    """
    path = Path(path)
    if not path.is_file():
        raise PrunedModelError(f"pruned model file {str(path)!r} does not exist.")
    # the task's dense model bounds what a pruned file may hold: checked before any of
    # the file's tensors is allocated (a crafted shape would otherwise ask for a TiB)
    model = task.build_model()
    dense = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    dense_bytes = sum(v.numel() * v.element_size() for v in model.state_dict().values())
    limit = 2 * dense_bytes + (1 << 20)  # room for the recipe, packing indices and metadata
    if path.stat().st_size > limit:
        raise PrunedModelError(f"{str(path)!r} is {path.stat().st_size} bytes; allowed: at most {limit} for a "
                               f"model of task {task.name!r} ({dense_bytes} bytes dense).")
    try:
        # mmap: storages are views of the file, so a declared size the file lacks fails
        # instead of being allocated
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # zip, pickle and weights_only errors all mean "not our file"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise PrunedModelError(
            f"{str(path)!r} is not an autoprune pruned model (torch.load failed: {type(exc).__name__}: {first})"
        ) from exc
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt != FORMAT:
        raise PrunedModelError(
            f"{str(path)!r} is not an autoprune pruned model: format is {fmt!r}, expected {FORMAT!r}."
        )
    if data.get("task") != task.name:
        raise PrunedModelError(
            f"{str(path)!r} holds a model of task {data.get('task')!r}, but task {task.name!r} was given."
        )
    try:
        recipe = Recipe.from_dict(data["recipe"])
        _check_shapes(path, task.name, data["state_dict"], dense, packed=bool(data["sparse"]))
        state_dict = unpack_state_dict(data["state_dict"]) if data["sparse"] else data["state_dict"]
    except (AutopruneError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, PrunedModelError):
            raise
        raise PrunedModelError(f"{str(path)!r} is damaged: {type(exc).__name__}: {exc}") from exc
    resize_to_state_dict(model, state_dict)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise PrunedModelError(f"{str(path)!r} does not fit task {task.name!r}: {detail}") from exc
    info = {"task": data["task"], "recipe": recipe, "sparse": bool(data["sparse"]), "extra": data.get("extra", {})}
    return model.eval(), info


def _check_shapes(path: Path, task_name: str, saved: Any, dense: dict[str, tuple[int, ...]], *, packed: bool) -> None:
    """Every saved tensor is one of the task model's, no larger in any dimension (pruning
    only removes): checked on the declared shapes, before unpacking allocates them."""
    entries = saved.get("tensors") if packed and isinstance(saved, Mapping) else saved
    if not isinstance(entries, Mapping):
        raise PrunedModelError(f"{str(path)!r} is damaged: its state dict is a {type(entries).__name__}.")
    for key, entry in entries.items():
        shape = entry.get("shape") if isinstance(entry, Mapping) else getattr(entry, "shape", None)
        if key not in dense:
            raise PrunedModelError(f"{str(path)!r} holds tensor {key!r}, which the model of task {task_name!r} "
                                   f"lacks; allowed: that model's tensors.")
        ok = isinstance(shape, (list, tuple, torch.Size)) and len(shape) == len(dense[key]) and all(
            isinstance(n, int) and 0 <= n <= m for n, m in zip(shape, dense[key]))
        if not ok:
            raise PrunedModelError(f"{str(path)!r}: {key} has shape {shape!r}; allowed: at most "
                                   f"{list(dense[key])} (the task model's) in every dimension.")


def resize_to_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Give every layer whose saved tensors have other shapes those shapes, in place.

    Parameters and buffers are replaced by uninitialised tensors of the saved shapes
    (:meth:`nn.Module.load_state_dict` fills them), and the shape attributes of the
    layer are updated: ``nn.Linear``, convolutions (transposed included; depthwise ones
    stay depthwise), batch norms, ``nn.LayerNorm``, ``nn.GroupNorm``, ``nn.Embedding``.
    Transformer layers and residual blocks the state dict lacks are removed first
    (:func:`~autoprune.pruning.restore_depth`), and attention modules get the head counts
    of their saved projections (:func:`~autoprune.pruning._transformer.sync_attributes`).

    Raises:
        PrunedModelError: a layer of another type changed shape; its attributes cannot
            be known from the weights alone.
    """
    restore_depth(model, state_dict)  # removed layers / residual blocks first: the names below are the saved ones
    for prefix, module in model.named_modules():
        changed = {}
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            key = f"{prefix}.{name}" if prefix else name
            saved = state_dict.get(key)
            if isinstance(saved, torch.Tensor) and saved.shape != tensor.shape:
                changed[name] = saved.shape
        if not changed:
            continue
        _update_attributes(prefix or "<root>", module, changed)
        for name, shape in changed.items():
            old = getattr(module, name)
            new = torch.empty(shape, dtype=old.dtype, device=old.device)
            if name in module._parameters:
                module._parameters[name] = nn.Parameter(new, requires_grad=old.requires_grad)
            else:
                module._buffers[name] = new
    sync_attributes(model)  # attention head counts, FFN width in the config
    return model


def _shape_from(changed: dict[str, torch.Size], module: nn.Module, *names: str) -> torch.Size:
    """The new shape of the first of ``names`` the module holds (changed or not)."""
    for name in names:
        if name in changed:
            return changed[name]
        tensor = getattr(module, name, None)
        if isinstance(tensor, torch.Tensor):
            return tensor.shape
    raise PrunedModelError(f"module of type {type(module).__name__} holds none of {', '.join(names)}.")


def _update_attributes(where: str, module: nn.Module, changed: dict[str, torch.Size]) -> None:
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = _shape_from(changed, module, "weight")
    elif isinstance(module, nn.modules.conv._ConvNd):
        shape = _shape_from(changed, module, "weight")
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        if module.transposed:  # weight: (in, out / groups, *kernel)
            channels, per_group = shape[0], shape[1]
            if depthwise:
                module.in_channels = module.out_channels = module.groups = channels
            else:
                module.in_channels, module.out_channels = channels, per_group * module.groups
        else:  # weight: (out, in / groups, *kernel)
            channels, per_group = shape[0], shape[1]
            if depthwise:
                module.in_channels = module.out_channels = module.groups = channels
            else:
                module.out_channels, module.in_channels = channels, per_group * module.groups
    elif isinstance(module, nn.modules.batchnorm._NormBase):
        module.num_features = _shape_from(changed, module, "weight", "running_mean")[0]
    elif isinstance(module, nn.LayerNorm):
        module.normalized_shape = tuple(_shape_from(changed, module, "weight"))
    elif isinstance(module, nn.GroupNorm):
        module.num_channels = _shape_from(changed, module, "weight")[0]
    elif isinstance(module, nn.Embedding):
        module.num_embeddings, module.embedding_dim = _shape_from(changed, module, "weight")
    else:
        what = ", ".join(f"{k} {tuple(v)}" for k, v in changed.items())
        raise PrunedModelError(
            f"cannot resize module {where!r} of type {type(module).__name__} to the saved shapes "
            f"({what}): only Linear, Conv*, BatchNorm*, InstanceNorm*, LayerNorm, GroupNorm and "
            f"Embedding layers can be resized; export such a model with torch.export instead."
        )


def _check_plain(where: str, value: Any) -> None:
    """Only values ``torch.load(weights_only=True)`` reads back."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(f"{where}[{i}]", item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise ConfigError(f"{where} keys must be str or int, but got {key!r}.")
            _check_plain(f"{where}[{key!r}]", item)
        return
    raise ConfigError(
        f"{where} must hold only None, bool, int, float, str, tensors, lists and dicts, "
        f"but got {type(value).__name__}."
    )
