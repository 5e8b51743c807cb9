"""A Hugging Face text task run from a space YAML through the real CLI, no Python of the
user's: search, export as a save_pretrained directory, load it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("transformers")

from autoprune.testing.hf import tiny_bert_dir, write_text_data  # noqa: E402

SPACE = """\
name: tiny-text
task:
  kind: hf-text-classification
  model: {model}
  data: {data}
  max_length: 16
  batch_size: 16
  baseline_epochs: 4
  baseline_lr: 3.0e-3
objectives: {{accuracy: max, size_bytes: min}}
budget: {{trials: 2}}
latency: {{threads: 1, warmup: 1, repeats: 3}}
fixed: {{granularity: unstructured, finetune_epochs: 1, finetune_lr: 1.0e-4}}
params:
  sparsity: {{low: 0.3, high: 0.6}}
"""


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-m", "autoprune", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)


@pytest.mark.e2e
def test_hf_text_search_export_and_reload_from_the_cli(tmp_path):
    tiny_bert_dir(tmp_path / "model")
    write_text_data(tmp_path / "reviews.jsonl", "jsonl", n=120)
    (tmp_path / "space.yaml").write_text(SPACE.format(model="model", data="reviews.jsonl"))  # relative to the cwd
    search = _cli("search", "space.yaml", "--out", "run", "--tracker", "none", "--quiet", cwd=tmp_path)
    assert search.returncode == 0, search.stderr
    assert "study tiny-text: 2 complete" in search.stdout
    front = json.loads(_cli("pareto", "run", "--json", cwd=tmp_path).stdout)
    assert front["task"]["kind"] == "hf-text-classification" and front["baseline"]["accuracy"] > 0.6
    number = front["front"][0]["number"]
    export = _cli("export", "run", "--trial", str(number), "--format", "hf", "--output", "exported", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert "outputs checked against the trial's model" in export.stdout
    code = ("import autoprune.hf, torch; m = autoprune.hf.from_pretrained('exported'); "
            "from transformers import AutoTokenizer; t = AutoTokenizer.from_pretrained('exported'); "
            "print(m.config.id2label, m(**t(['w1 w2'], return_tensors='pt')).logits.shape)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert loaded.returncode == 0, loaded.stderr
    assert "{0: 'neg', 1: 'pos'} torch.Size([1, 2])" in loaded.stdout
