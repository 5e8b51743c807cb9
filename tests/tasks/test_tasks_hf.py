"""The Hugging Face tasks from files: tiny models built from configs, data written here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

pytest.importorskip("transformers")

from autoprune.errors import ConfigError, DataError  # noqa: E402
from autoprune.search import parse_space  # noqa: E402
from autoprune.tasks import get_task, task_from_flags  # noqa: E402
from autoprune.tasks.hf import HFTextClassification, WarmupAdamW  # noqa: E402
from autoprune.testing.hf import (  # noqa: E402
    tiny_bert_dir,
    tiny_vit_dir,
    write_idx_dir,
    write_image_folder,
    write_text_data,
)


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return tiny_bert_dir(tmp_path_factory.mktemp("bert") / "model")


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory):
    return write_text_data(tmp_path_factory.mktemp("data") / "train.csv", labels=("pos", "neg", "neutral"))


def _text(model, data, **options):
    return get_task({"kind": "hf-text-classification", "model": str(model), "data": str(data), "max_length": 16,
                     **options})


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "folder"])
def test_text_task_reads_each_format_and_sorts_labels(bert, tmp_path, fmt):
    data = write_text_data(tmp_path / ("d" if fmt == "folder" else f"d.{fmt}"), fmt, n=40)
    task = _text(bert, data)
    assert task.label2id == {"neg": 0, "pos": 1}
    assert task.baseline_epochs == 3  # a BertModel has no head: a new one is trained first
    model = task.build_model()
    assert model.config.id2label == {0: "neg", 1: "pos"} and model.config.num_labels == 2
    inputs, targets = next(iter(task.train_batches(0)))
    assert set(inputs) == {"input_ids", "attention_mask"} and inputs["input_ids"].shape[1] <= 16
    logits = task.logits(model(**inputs))
    assert logits.shape == (len(targets), 2)
    assert task.example_input(3)["input_ids"].shape == (3, 16)
    assert len(task._train_rows) == 32 and len(task._val_rows) == 8  # validation_fraction 0.2, seeded


def test_text_task_custom_columns_and_validation_file(bert, tmp_path):
    train = write_text_data(tmp_path / "t.jsonl", "jsonl", n=30, text_column="sentence", label_column="y")
    val = write_text_data(tmp_path / "v.jsonl", "jsonl", n=10, seed=1, text_column="sentence", label_column="y")
    task = _text(bert, train, text_column="sentence", label_column="y", validation_data=str(val))
    assert len(task._train_rows) == 30 and len(task._val_rows) == 10
    same = get_task({"kind": "hf-text-classification", "model": str(bert), "max_length": 16,
                     "text_column": "sentence", "label_column": "y", "data": {"train": str(train), "validation": str(val)}})
    assert same.fingerprint() == task.fingerprint()


def test_numeric_labels_sort_as_numbers(bert, tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("text,label\n" + "".join(f"w{i} w{i + 1},{i % 11}\n" for i in range(44)))
    assert list(_text(bert, path).label2id) == [str(i) for i in range(11)]


def test_new_head_learns_and_baseline_epochs_zero_is_refused(bert, csv_data):
    with pytest.raises(ConfigError, match=r"baseline_epochs=0, but model .* has no ForSequenceClassification head"):
        _text(bert, csv_data, baseline_epochs=0)
    torch.manual_seed(0)
    task = _text(bert, csv_data, baseline_lr=3e-3)
    model = task.build_model()
    optimizer = task.make_optimizer(model.parameters(), task.baseline_lr)
    before = task.evaluate(model)
    from autoprune.training import train_epoch

    for epoch in range(12):
        train_epoch(model, task, optimizer, epoch)
    assert task.evaluate(model) > max(before, 0.6)


def test_existing_head_is_the_baseline_and_bounds_the_classes(tmp_path, csv_data):
    two = tiny_bert_dir(tmp_path / "two", head_labels=2)
    with pytest.raises(ConfigError, match=r"the data has 3 classes .* head holds num_labels=2"):
        _text(two, csv_data)
    three = tiny_bert_dir(tmp_path / "three", head_labels=3)
    task = _text(three, csv_data)
    assert task.baseline_epochs == 0 and task.has_head
    # the head's weights are the checkpoint's, not a new draw
    from transformers import AutoModelForSequenceClassification

    reference = AutoModelForSequenceClassification.from_pretrained(three)
    assert torch.equal(task.build_model().classifier.weight, reference.classifier.weight)


def test_bad_model_directories(tmp_path, csv_data):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"is a directory without config.json"):
        _text(tmp_path / "empty", csv_data)
    with pytest.raises(ConfigError, match=r"not in the local cache|neither a directory nor a Hub model"):
        get_task({"kind": "hf-text-classification", "model": "nobody-here/no-such-model", "data": str(csv_data)})
    try:
        get_task({"kind": "hf-text-classification", "model": "nobody-here/no-such-model", "data": str(csv_data)})
    except ConfigError as exc:
        assert "hf download nobody-here/no-such-model" in str(exc) and "\n" not in str(exc)
    big = tiny_bert_dir(tmp_path / "big", vocab_extra=20)
    with pytest.raises(ConfigError, match=r"has 65 tokens, but model .* embeds only vocab_size=45"):
        _text(big, csv_data)
    no_tok = tiny_bert_dir(tmp_path / "notok", tokenizer=False)
    with pytest.raises(ConfigError, match=r"no tokenizer can be loaded"):
        _text(no_tok, csv_data)


def test_bad_data(bert, tmp_path, csv_data):
    with pytest.raises(DataError, match=r"task.data: .*missing.csv' does not exist"):
        _text(bert, tmp_path / "missing.csv")
    with pytest.raises(DataError, match=r"task.text_column: .* has no column 'body'; its columns are 'text', 'label'"):
        _text(bert, csv_data, text_column="body")
    bad = tmp_path / "x.parquet"
    bad.write_text("x")
    with pytest.raises(DataError, match=r"neither a folder nor a .csv"):
        _text(bert, bad)
    empty_label = tmp_path / "e.csv"
    empty_label.write_text("text,label\nw1 w2,\n")
    with pytest.raises(DataError, match=r"line 2 has label ''"):
        _text(bert, empty_label)


def test_options_checked_in_the_space(bert, csv_data):
    base = {"objectives": {"accuracy": "max"}, "params": {"sparsity": {"low": 0.1, "high": 0.5}}}
    space = parse_space({**base, "task": {"kind": "hf-text-classification", "model": str(bert), "data": str(csv_data),
                                          "max_length": 32}}, "s.yaml")
    assert space.task["max_length"] == 32 and parse_space(space.to_dict(), "again").task == space.task
    with pytest.raises(ConfigError, match=r"s.yaml: task.maxlen: 'maxlen' is not an option of task kind "
                                          r"hf-text-classification; allowed: kind, model, data"):
        parse_space({**base, "task": {"kind": "hf-text-classification", "model": "m", "data": "d", "maxlen": 3}},
                    "s.yaml")
    with pytest.raises(ConfigError, match=r"s.yaml: task.data: task kind hf-text-classification needs data"):
        parse_space({**base, "task": {"kind": "hf-text-classification", "model": "m"}}, "s.yaml")
    with pytest.raises(ConfigError, match=r"task.kind must be one of hf-text-classification, hf-image-classification"):
        parse_space({**base, "task": {"kind": "digits-mlp"}}, "s.yaml")


def test_task_from_flags(bert, csv_data):
    spec = task_from_flags(None, "hf-text-classification", str(bert), str(csv_data), ["max_length=8", "text_column=text"])
    assert spec == {"kind": "hf-text-classification", "model": str(bert), "data": str(csv_data), "max_length": 8,
                    "text_column": "text"}
    # the space's mapping is updated by the flags without --task
    assert task_from_flags(spec, None, None, "other.csv", [])["data"] == "other.csv"
    assert task_from_flags("digits-mlp", "digits-cnn", None, None, []) == "digits-cnn"
    with pytest.raises(ConfigError, match=r"need --task KIND"):
        task_from_flags("digits-mlp", None, "m", None, [])
    with pytest.raises(ConfigError, match=r"--task-option must be KEY=VALUE"):
        task_from_flags(spec, None, None, None, ["max_length"])


def test_fingerprint_is_stable_across_processes_and_follows_the_data(bert, tmp_path):
    data = write_text_data(tmp_path / "d.csv", n=30)
    task = _text(bert, data)
    code = (f"from autoprune.tasks import get_task; print(get_task({{'kind': 'hf-text-classification', "
            f"'model': {str(bert)!r}, 'data': {str(data)!r}, 'max_length': 16}}).fingerprint())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1]
    before = task.fingerprint()
    assert other == before
    write_text_data(data, n=30, seed=5)
    assert _text(bert, data).fingerprint() != before


def test_warmup_adamw_ramps_the_learning_rate():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = WarmupAdamW([p], 0.1, weight_decay=0.0, warmup_steps=4)
    moves = []
    for _ in range(5):
        before = p.detach().clone()
        p.grad = torch.ones(3)
        opt.step()
        moves.append(float((before - p.detach()).abs().max()))
        assert opt.param_groups[0]["lr"] == 0.1  # the schedule's lr is left as it was
    # Adam's first steps move by ~lr: the warm-up scales them 1/4, 2/4, 3/4, 1, 1
    assert moves == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1], rel=1e-3)


def test_text_optimizer_excludes_biases_from_weight_decay(bert, csv_data):
    task = _text(bert, csv_data, weight_decay=0.1)
    groups = task.make_optimizer(task.build_model().parameters(), 1e-4).param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert all(p.ndim < 2 for p in groups[1]["params"])


def test_image_task_from_an_image_folder(tmp_path):
    vit = tiny_vit_dir(tmp_path / "vit", head_labels=None)
    data = write_image_folder(tmp_path / "images")
    task = get_task({"kind": "hf-image-classification", "model": str(vit), "data": str(data), "batch_size": 4})
    assert task.label2id == {"cat": 0, "dog": 1, "fish": 2} and task.baseline_epochs == 3
    inputs, targets = next(iter(task.train_batches(0)))
    assert inputs["pixel_values"].shape == (4, 1, 28, 28)
    # the processor's normalisation (mean 0.5, std 0.5 of pixels / 255): values in [-1, 1]
    assert inputs["pixel_values"].min() >= -1.0 and inputs["pixel_values"].max() <= 1.0
    assert task.logits(task.build_model()(**inputs)).shape == (4, 3)


def test_image_task_from_idx_files(tmp_path):
    vit = tiny_vit_dir(tmp_path / "vit", head_labels=10)
    data = write_idx_dir(tmp_path / "idx")
    task = get_task({"kind": "hf-image-classification", "model": str(vit), "data": str(data), "batch_size": 16,
                     "train_limit": 32, "val_limit": 20})
    assert task.baseline_epochs == 0  # a head of 10 classes: the checkpoint is the baseline
    assert sum(len(y) for _, y in task.train_batches(0)) == 32
    assert sum(len(y) for _, y in task.val_batches()) == 20
    assert 0.0 <= task.evaluate(task.build_model()) <= 1.0
    rgb = tiny_vit_dir(tmp_path / "rgb", channels=3)
    with pytest.raises(DataError, match=r"idx files hold one-channel images, but model .* num_channels=3"):
        get_task({"kind": "hf-image-classification", "model": str(rgb), "data": str(data)})


def test_task_travels_without_its_model(bert, csv_data):
    import pickle

    task = _text(bert, csv_data)
    task.build_model()
    copy = pickle.loads(pickle.dumps(task))
    assert "_loaded" not in copy.__dict__ and isinstance(copy, HFTextClassification)
    assert json.dumps(copy.config(), default=str) == json.dumps(task.config(), default=str)
