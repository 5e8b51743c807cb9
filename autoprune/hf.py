"""Pruned Hugging Face models as ``save_pretrained`` directories, and loading them back.

A pruned transformer often has a shape its stock config cannot describe: BERT and ViT
compute the head size as ``hidden_size / num_attention_heads``, so a layer that kept 3
of 4 heads of size 24 is not ``num_attention_heads: 3``; transformers 5 has no
``prune_heads``; and ``intermediate_size`` is one number for every layer. So
:func:`save_pretrained` writes the usual directory (``config.json``,
``model.safetensors``, and the task's tokenizer or image processor) and records the
pruned structure in the config under ``autoprune_pruned``::

    "autoprune_pruned": {"num_hidden_layers": 3, "num_attention_heads": [4, 3, 2],
                         "attention_head_size": [24, 24, 24], "intermediate_size": [384, 200, 384]}

What the stock config can express is written there too: ``num_hidden_layers`` (layers
removed) and ``intermediate_size`` when every layer kept the same FFN width. Hence:

- plain ``AutoModelFor...from_pretrained(dir)`` loads a model whose layers were removed
  and/or whose FFN was pruned to one width in every layer (``autoprune_pruned`` says
  ``"stock_config": true``);
- :func:`from_pretrained` loads every pruned model: heads removed, FFN widths that differ
  per layer, and the above. It builds the model from the config, resizes each layer to
  the saved tensors (:func:`autoprune.serialize.resize_to_state_dict`), sets each
  attention module's head count, then loads the weights strictly. Such a directory's
  ``model.safetensors`` holds the weights under the names the model's modules have
  (``save_pretrained`` may rename them to a model type's original checkpoint layout).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from torch import nn

from autoprune.errors import ConfigError, PrunedModelError

__all__ = ["save_pretrained", "from_pretrained", "pruned_structure", "PRUNED_KEY"]

PRUNED_KEY = "autoprune_pruned"
_QKV = (("query", "key", "value"), ("q_proj", "k_proj", "v_proj"), ("q_lin", "k_lin", "v_lin"))
_HEADS = ("num_attention_heads", "num_heads", "n_heads")
_HEAD_SIZE = ("attention_head_size", "head_dim", "head_size")
_WIDTH = ("all_head_size", "inner_dim")


def _attention_modules(model: nn.Module) -> list[tuple[str, nn.Module, nn.Linear]]:
    """(name, module, query projection) of every module with a head count and Q/K/V Linears."""
    found = []
    for name, module in model.named_modules():
        if not any(isinstance(getattr(module, a, None), int) for a in _HEADS):
            continue
        for names in _QKV:
            parts = [getattr(module, n, None) for n in names]
            if all(isinstance(p, nn.Linear) for p in parts):
                found.append((name, module, parts[0]))
                break
    return found


def _head_size(module: nn.Module, query: nn.Linear) -> int:
    for attr in _HEAD_SIZE:
        value = getattr(module, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    heads = next(getattr(module, a) for a in _HEADS if isinstance(getattr(module, a, None), int))
    return query.out_features // heads


def sync_heads(model: nn.Module) -> None:
    """Each attention module's head count and width from its query projection's width."""
    for _, module, query in _attention_modules(model):
        size = _head_size(module, query)
        for attr in _HEADS:
            if isinstance(getattr(module, attr, None), int):
                setattr(module, attr, query.out_features // size)
        for attr in _WIDTH:
            if isinstance(getattr(module, attr, None), int):
                setattr(module, attr, query.out_features)


def _ffn_widths(model: nn.Module, config: Any) -> list[int]:
    """The FFN width of each transformer layer: the out-features of its ``intermediate``
    (BERT, ViT) / ``mlp.fc1`` / ``ffn.lin1`` Linear, in layer order."""
    widths = []
    for _, module in model.named_modules():
        for path in (("intermediate", "dense"), ("mlp", "fc1"), ("ffn", "lin1")):
            obj: Any = module
            for part in path:
                obj = getattr(obj, part, None)
            if isinstance(obj, nn.Linear) and obj.out_features != config.hidden_size:
                widths.append(obj.out_features)
                break
    return widths


def pruned_structure(model: nn.Module) -> dict[str, Any]:
    """The per-layer structure of a (pruned) Hugging Face transformer, as stored under
    ``autoprune_pruned``; ``stock_config`` says whether the stock config describes it."""
    config = model.config
    attention = _attention_modules(model)
    heads = [q.out_features // _head_size(m, q) for _, m, q in attention]
    sizes = [_head_size(m, q) for _, m, q in attention]
    widths = _ffn_widths(model, config)
    original_heads = getattr(config, "num_attention_heads", None)
    original_size = config.hidden_size // original_heads if isinstance(original_heads, int) else None
    stock = all(h == original_heads for h in heads) and all(s == original_size for s in sizes) and len(set(widths)) <= 1
    return {"num_hidden_layers": len(attention), "num_attention_heads": heads, "attention_head_size": sizes,
            "intermediate_size": widths, "stock_config": stock}


def save_pretrained(model: nn.Module, directory: str | Path, *, task: Any = None) -> Path:
    """Write a (pruned) Hugging Face model with ``save_pretrained``, its structure in the
    config (``autoprune_pruned``), and the task's tokenizer or image processor.

    Raises:
        ConfigError: ``model`` is not a Hugging Face model (no ``save_pretrained``).
    """
    if not callable(getattr(model, "save_pretrained", None)) or getattr(model, "config", None) is None:
        raise ConfigError(f"format hf needs a Hugging Face model (with save_pretrained and a config), but the "
                          f"model is a {type(model).__name__}; allowed: state_dict, torch_export, onnx.")
    directory = Path(directory)
    config = model.config
    structure = pruned_structure(model)
    config.num_hidden_layers = structure["num_hidden_layers"]
    if len(set(structure["intermediate_size"])) == 1:
        config.intermediate_size = structure["intermediate_size"][0]
    setattr(config, PRUNED_KEY, structure)
    from autoprune.tasks.hf._common import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(directory)
    if not structure["stock_config"]:
        # save_pretrained may rename keys to a model type's original checkpoint layout
        # (ViT in transformers 5), which only its own loader, on stock shapes, maps back:
        # a pruned model's weights are stored under the names the model holds them by
        from safetensors.torch import save_model

        for old in directory.glob("model*.safetensors*"):
            old.unlink()
        save_model(model, str(directory / "model.safetensors"), metadata={"format": "pt"})
    for attr in ("tokenizer", "processor"):
        part = getattr(task, attr, None)
        if callable(getattr(part, "save_pretrained", None)):
            part.save_pretrained(directory)
    return directory


def _auto_class(config: Any) -> Any:
    import transformers

    for arch in config.architectures or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    return transformers.AutoModel


def from_pretrained(directory: str | Path, model_class: Any = None) -> nn.Module:
    """Load a directory written by :func:`save_pretrained` (or any ``save_pretrained``
    directory), pruned structure included; the model is in eval mode.

    Args:
        directory: the directory.
        model_class: the transformers class to build (default: the config's
            ``architectures[0]``).

    Raises:
        PrunedModelError: no config, no weights, or weights that do not fit.

    Example:
        >>> model = autoprune.hf.from_pretrained("exported/trial-7")  # doctest: +SKIP
    """
    from autoprune.tasks.hf._common import quiet_transformers, require_transformers
    from autoprune.serialize import resize_to_state_dict

    transformers = require_transformers()
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise PrunedModelError(f"{str(directory)!r} has no config.json; allowed: a directory written by save_pretrained.")
    config = transformers.AutoConfig.from_pretrained(directory, local_files_only=True)
    cls = model_class or _auto_class(config)
    structure = getattr(config, PRUNED_KEY, None)
    if not structure or structure.get("stock_config"):
        with quiet_transformers():
            return cls.from_pretrained(directory, local_files_only=True).eval()
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise PrunedModelError(f"{str(directory)!r} has no model.safetensors; allowed: a directory written by "
                               f"autoprune.hf.save_pretrained.")
    from safetensors.torch import load_file

    state_dict = load_file(str(weights))
    with quiet_transformers():
        model = cls(config)
    resize_to_state_dict(model, state_dict)
    sync_heads(model)
    result = model.load_state_dict(state_dict, strict=False)
    # tied weights (an output embedding sharing the input's) are stored once
    if result.unexpected_keys or set(result.missing_keys) - _tied_keys(model):
        raise PrunedModelError(f"{str(directory)!r}: the weights do not fit {cls.__name__} (missing "
                               f"{sorted(result.missing_keys)[:4]}, unexpected {sorted(result.unexpected_keys)[:4]}).")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    return model.eval()


def _tied_keys(model: nn.Module) -> set[str]:
    keys = getattr(model, "_tied_weights_keys", None) or []
    return set(keys if isinstance(keys, (list, tuple, set)) else keys.keys())


def replace_directory(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, replacing a directory there (an earlier export)."""
    if dst.exists():
        shutil.rmtree(dst)
    src.replace(dst)
