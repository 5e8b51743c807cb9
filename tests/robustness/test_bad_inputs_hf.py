"""Bad Hugging Face task inputs against the CLI: one line naming what is wrong, exit status
2, before any trial (no run directory is written)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")

from autoprune.cli import main  # noqa: E402
from autoprune.testing.hf import tiny_bert_dir, write_text_data  # noqa: E402

SPACE = """\
task: {{kind: hf-text-classification, model: {model}, data: {data}, max_length: 16{extra}}}
objectives: {{accuracy: max, latency_ms: min}}
budget: {{trials: 1}}
fixed: {{granularity: unstructured, finetune_epochs: 1}}
params:
  sparsity: {{low: 0.3, high: 0.6}}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hf-world")
    tiny_bert_dir(root / "bert")
    tiny_bert_dir(root / "two-labels", head_labels=2)
    tiny_bert_dir(root / "big-vocab", vocab_extra=10)
    (root / "no-config").mkdir()
    write_text_data(root / "data.csv", labels=("a", "b", "c"))
    return root


def _space(world: Path, model: str, data: str = "data.csv", extra: str = "") -> Path:
    path = world / f"space-{len(list(world.glob('space-*.yaml')))}.yaml"
    path.write_text(SPACE.format(model=model if "/" in model and not (world / model).exists() else world / model,
                                 data=world / data, extra=extra))
    return path


CASES = [
    ("no-config", dict(model="no-config"), r"task\.model='.*no-config' is a directory without config\.json; allowed"),
    ("hub-id-not-cached", dict(model="nobody-here/no-such-model"),
     r"is neither a directory nor a Hub model in the local cache .*: download it first with `hf download "
     r"nobody-here/no-such-model` \(or `huggingface-cli download nobody-here/no-such-model`\)"),
    ("tokenizer-mismatch", dict(model="big-vocab"), r"task\.tokenizer: the tokenizer in .* has 55 tokens, but model .* "
                                                    r"embeds only vocab_size=45"),
    ("labels-exceed-head", dict(model="two-labels"), r"task\.label_column: the data has 3 classes \(a, b, c\), but the "
                                                     r"model's classification head holds num_labels=2"),
    ("data-missing", dict(model="bert", data="missing.csv"), r"task\.data: '.*missing\.csv' does not exist"),
    ("column-missing", dict(model="bert", extra=", text_column: body"),
     r"task\.text_column: '.*data\.csv' has no column 'body'; its columns are 'text', 'label'"),
    ("option-unknown", dict(model="bert", extra=", colour: red"),
     r"task\.colour: 'colour' is not an option of task kind hf-text-classification; allowed: kind, model"),
    ("head-without-epochs", dict(model="bert", extra=", baseline_epochs: 0"),
     r"baseline_epochs=0, but model .* has no ForSequenceClassification head"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_hf_task_exits_2_with_one_line(world, tmp_path, capsys, case):
    _, kwargs, pattern = case
    out = tmp_path / "run"
    code = main(["search", str(_space(world, **kwargs)), "--out", str(out), "--tracker", "none", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    import re

    assert re.search(pattern, err), err
    assert not out.exists()  # nothing written, no trial run


def test_flags_without_a_kind(world, tmp_path, capsys):
    code = main(["trial", "--task", "digits-mlp", "--model", str(world / "bert")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--model, --data and --task-option need --task to name a kind" in err
    code = main(["trial", "--task", "hf-text-classification"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "needs options" in err and "--task hf-text-classification --model DIR --data PATH" in err
