"""The benchmark's stand-in for a pretrained transformer: a small ViT trained to a plateau on
Fashion-MNIST once, saved with ``save_pretrained`` (and its image processor) and cached.

After this step the model is used only through the pretrained path: the
``hf-image-classification`` task loads the directory with ``baseline_epochs: 0``.

Run alone (it is also run by ``benchmarks.transformer`` when the cache lacks it)::

    AUTOPRUNE_CACHE_DIR=/tmp/bench-cache python -m benchmarks._vit_pretrain
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from autoprune._paths import cache_dir
from autoprune.tasks._fashion import DEFAULT_DATA_DIR, FILES, read_idx

__all__ = ["VIT_CONFIG", "PRETRAIN", "pretrained_vit_dir", "pretrain_vit"]

# 4 layers of 4 heads (head size 24), FFN 384, 7x7 patches (16 tokens + CLS): one
# training epoch of 55,000 images takes about a minute on one CPU thread
VIT_CONFIG: dict[str, Any] = dict(image_size=28, patch_size=7, num_channels=1, hidden_size=96,
                                  num_hidden_layers=4, num_attention_heads=4, intermediate_size=384,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
# AdamW with warm-up then cosine decay; stops at the plateau: when the held-out accuracy
# has not improved by 0.2 points for 3 epochs, or after max_epochs. Then it is annealed:
# ANNEAL epochs with the learning rate falling linearly from anneal_lr to 0, so that the
# model sits at the bottom of its plateau (fine-tuning it further at a small learning rate
# barely moves it, and a pruned model cannot beat it by that alone)
PRETRAIN: dict[str, Any] = dict(max_epochs=20, patience=3, min_delta=0.002, lr=2e-3, weight_decay=0.05,
                                batch_size=128, warmup_epochs=1, holdout=5000, seed=0)
ANNEAL: dict[str, Any] = dict(epochs=3, lr=5e-4)
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
_MEAN, _STD = 0.2860, 0.3530


def _key() -> str:
    blob = json.dumps({"config": VIT_CONFIG, "pretrain": PRETRAIN}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pretrained_vit_dir(root: Path | None = None, *, annealed: bool = True) -> Path:
    """Where the pretrained ViT of the current settings is (or will be) cached."""
    base = (root or cache_dir()) / "hf-models" / f"vit-fashion-mnist-{_key()}"
    if not annealed:
        return base
    tag = hashlib.sha256(json.dumps(ANNEAL, sort_keys=True).encode()).hexdigest()[:8]
    return base.with_name(f"{base.name}-annealed-{tag}")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pretrain_vit(data_dir: str | None = None, root: Path | None = None, *, threads: int = 1) -> Path:
    """Train the ViT to a plateau and save it (model, image processor, training log); a
    cached directory of the same settings is returned as is."""
    final = pretrained_vit_dir(root)
    if (final / "config.json").is_file() and (final / "pretrain.json").is_file():
        return final
    return _anneal(_pretrain(data_dir, root, threads), final, data_dir, threads)


def _fashion(data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training images and labels, and the held-out / training split of them."""
    directory = Path(data_dir or DEFAULT_DATA_DIR)
    x = torch.from_numpy(read_idx(directory / FILES["train_images"])).unsqueeze(1)
    y = torch.from_numpy(read_idx(directory / FILES["train_labels"])).long()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(PRETRAIN["seed"]))
    return x, y, order[: PRETRAIN["holdout"]], order[PRETRAIN["holdout"]:]


def _held_out(model: Any, x: torch.Tensor, y: torch.Tensor, held: torch.Tensor) -> float:
    model.eval()
    with torch.inference_mode():
        correct = sum(int((model(pixel_values=_norm(x[held[s: s + 500]])).logits.argmax(-1)
                           == y[held[s: s + 500]]).sum()) for s in range(0, len(held), 500))
    return correct / len(held)


def _norm(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - _MEAN) / _STD


def _anneal(source: Path, out: Path, data_dir: str | None, threads: int) -> Path:
    from transformers import ViTForImageClassification, ViTImageProcessor

    x, y, held, train = _fashion(data_dir)
    model = ViTForImageClassification.from_pretrained(source)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(PRETRAIN["seed"])
    bs = PRETRAIN["batch_size"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=ANNEAL["lr"], weight_decay=PRETRAIN["weight_decay"])
    total = ANNEAL["epochs"] * math.ceil(len(train) / bs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
    log = json.loads((source / "pretrain.json").read_text())["log"]
    try:
        for epoch in range(ANNEAL["epochs"]):
            t0 = time.perf_counter()
            model.train()
            perm = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(5000 + epoch))]
            for start in range(0, len(perm), bs):
                idx = perm[start: start + bs]
                loss = torch.nn.functional.cross_entropy(model(pixel_values=_norm(x[idx])).logits, y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            acc = _held_out(model, x, y, held)
            log.append({"anneal_epoch": epoch + 1, "holdout_accuracy": acc, "seconds": time.perf_counter() - t0})
            _log(f"anneal ViT epoch {epoch + 1}: held-out accuracy {acc:.4f} ({log[-1]['seconds']:.0f}s)")
    finally:
        torch.set_num_threads(previous)
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    ViTImageProcessor.from_pretrained(source).save_pretrained(tmp)
    (tmp / "pretrain.json").write_text(json.dumps({"config": VIT_CONFIG, "pretrain": PRETRAIN, "anneal": ANNEAL,
                                                   "log": log, "holdout_accuracy": log[-1]["holdout_accuracy"]},
                                                  indent=1))
    tmp.replace(out)
    return out


def _pretrain(data_dir: str | None, root: Path | None, threads: int) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    out = pretrained_vit_dir(root, annealed=False)
    if (out / "config.json").is_file() and (out / "pretrain.json").is_file():
        return out
    p = PRETRAIN
    x, y, held, train = _fashion(data_dir)
    torch.manual_seed(p["seed"])
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    config = ViTConfig(**VIT_CONFIG, num_labels=10, id2label=dict(enumerate(CLASSES)),
                       label2id={c: i for i, c in enumerate(CLASSES)})
    model = ViTForImageClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
    steps_per_epoch = math.ceil(len(train) / p["batch_size"])
    total, warm = p["max_epochs"] * steps_per_epoch, p["warmup_epochs"] * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (
        1 + math.cos(math.pi * min(s, total) / total)))
    best, best_state, since, log = -1.0, None, 0, []
    try:
        for epoch in range(p["max_epochs"]):
            t0 = time.perf_counter()
            model.train()
            perm = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(1000 + epoch))]
            for start in range(0, len(perm), p["batch_size"]):
                idx = perm[start: start + p["batch_size"]]
                loss = torch.nn.functional.cross_entropy(model(pixel_values=_norm(x[idx])).logits, y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            acc = _held_out(model, x, y, held)
            log.append({"epoch": epoch + 1, "holdout_accuracy": acc, "seconds": time.perf_counter() - t0})
            _log(f"pretrain ViT epoch {epoch + 1}: held-out accuracy {acc:.4f} ({log[-1]['seconds']:.0f}s)")
            if acc > best + p["min_delta"]:
                best, since = acc, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since += 1
                if since >= p["patience"]:
                    break
    finally:
        torch.set_num_threads(previous)
    model.load_state_dict(best_state)
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    ViTImageProcessor(do_resize=False, size={"height": 28, "width": 28}, do_rescale=True, rescale_factor=1 / 255,
                      do_normalize=True, image_mean=[_MEAN], image_std=[_STD]).save_pretrained(tmp)
    (tmp / "pretrain.json").write_text(json.dumps({"config": VIT_CONFIG, "pretrain": PRETRAIN, "log": log,
                                                   "holdout_accuracy": best}, indent=1))
    tmp.replace(out)
    return out


if __name__ == "__main__":
    print(pretrain_vit(sys.argv[1] if len(sys.argv) > 1 else None))
