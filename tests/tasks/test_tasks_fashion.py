from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from autoprune.errors import ConfigError, DataError
from autoprune.tasks import _fashion, get_task
from autoprune.tasks._fashion import DEFAULT_DATA_DIR, FILES, FashionMNISTCNN, read_idx


def _idx(path: Path, array: np.ndarray, *, magic: bytes | None = None, gz: bool = True) -> Path:
    header = magic if magic is not None else bytes([0, 0, 0x08, array.ndim])
    blob = header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return path


def _fake_dataset(directory: Path, n_train: int = 6, n_test: int = 4, gz: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28))
        labels = np.arange(n) % 10
        for key, array in ((f"{split}_images", images), (f"{split}_labels", labels)):
            name = FILES[key] if gz else FILES[key][: -len(".gz")]
            _idx(directory / name, array, gz=gz)
    return directory


def test_read_idx_by_hand(tmp_path):
    path = _idx(tmp_path / "x.gz", np.array([[[0, 1], [2, 255]], [[7, 8], [9, 10]]]))
    data = read_idx(path)
    assert data.dtype == np.uint8 and data.shape == (2, 2, 2)
    assert data.tolist() == [[[0, 1], [2, 255]], [[7, 8], [9, 10]]]
    assert read_idx(path, header_only=True) == (2, 2, 2)


def test_read_idx_uncompressed_labels(tmp_path):
    path = _idx(tmp_path / "labels", np.array([3, 1, 4]), gz=False)
    assert read_idx(path).tolist() == [3, 1, 4]


def test_read_idx_bad_magic(tmp_path):
    path = _idx(tmp_path / "x.gz", np.zeros((2, 2)), magic=b"\x1f\x8b\x08\x02")
    with pytest.raises(DataError, match=r"is not an idx file: magic number 1f8b0802"):
        read_idx(path)


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 8, 2]) + struct.pack(">2I", 3, 4) + bytes(5))
    with pytest.raises(DataError, match=r"holds 5 data bytes, but its header \(3, 4\) needs 12"):
        read_idx(path)


def test_read_idx_not_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"plain text")
    with pytest.raises(DataError, match=r"cannot read idx file .*x\.gz"):
        read_idx(path)


def test_missing_directory_is_reported_when_the_task_is_built(tmp_path):
    missing = tmp_path / "nothing-here"
    with pytest.raises(
        DataError,
        match=r"Fashion-MNIST directory '.*nothing-here' \(data_dir\) does not exist; it must hold "
        r"train-images-idx3-ubyte.gz, .*apt-get install dataset-fashion-mnist.*"
        r"github.com/zalandoresearch/fashion-mnist.*--data-dir or set AUTOPRUNE_DATA_DIR",
    ):
        get_task("fashion-mnist-cnn", data_dir=str(missing))


def test_environment_variable_names_the_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPRUNE_DATA_DIR", str(tmp_path / "env-dir"))
    with pytest.raises(DataError, match=r"'.*env-dir' \(AUTOPRUNE_DATA_DIR\) does not exist"):
        FashionMNISTCNN()
    monkeypatch.delenv("AUTOPRUNE_DATA_DIR")
    monkeypatch.setattr(_fashion, "DEFAULT_DATA_DIR", str(tmp_path / "default-dir"))
    with pytest.raises(DataError, match=r"'.*default-dir' \(the default location\) does not exist"):
        FashionMNISTCNN()


def test_missing_files_are_named(tmp_path):
    directory = _fake_dataset(tmp_path / "fm")
    (directory / FILES["test_labels"]).unlink()
    with pytest.raises(
        DataError, match=r"files missing in '.*fm' \(data_dir\): t10k-labels-idx1-ubyte.gz \(or the same without .gz\)"
    ):
        FashionMNISTCNN(data_dir=directory)


def test_wrong_shapes_are_reported(tmp_path):
    directory = _fake_dataset(tmp_path / "fm")
    _idx(directory / FILES["train_labels"], np.zeros(5))  # 6 images, 5 labels
    with pytest.raises(DataError, match=r"train files in .* have shapes \(6, 28, 28\) and \(5,\)"):
        FashionMNISTCNN(data_dir=directory)


def test_limits_are_checked():
    with pytest.raises(ConfigError, match=r"train_limit must be None or an integer in \[1, 60000\], but got train_limit=0"):
        FashionMNISTCNN(train_limit=0)


def test_synthetic_files_give_normalised_batches(tmp_path):
    directory = _fake_dataset(tmp_path / "fm", n_train=6, n_test=4, gz=False)
    task = FashionMNISTCNN(data_dir=directory, batch_size=4, train_limit=5, val_limit=3)
    batches = list(task.train_batches(0))
    assert [len(y) for _, y in batches] == [4, 1]  # 5 of 6 examples per epoch
    x, _ = batches[0]
    assert x.dtype == torch.float32 and x.shape == (4, 1, 28, 28)
    raw = read_idx(directory / "train-images-idx3-ubyte")
    # pixel 0 maps to (0 - mean) / std and 255 to (1 - mean) / std
    assert float(x.min()) == pytest.approx((0 - 0.2860) / 0.3530, abs=1e-3)
    assert float(x.max()) == pytest.approx((1 - 0.2860) / 0.3530, abs=1e-3)
    first = batches[0][0][0, 0]
    matches = [i for i in range(6) if torch.allclose(first, (torch.from_numpy(raw[i]).float() / 255 - 0.2860) / 0.3530)]
    assert len(matches) == 1
    val = list(task.val_batches())
    assert sum(len(y) for _, y in val) == 3
    assert [y.tolist() for _, y in task.val_batches()] == [y.tolist() for _, y in val]
    assert task.config() == {"batch_size": 4, "train_limit": 5, "val_limit": 3}


def test_model_and_example_input_shapes(tmp_path):
    task = FashionMNISTCNN(data_dir=_fake_dataset(tmp_path / "fm"))
    x = task.example_input(3)
    assert x.shape == (3, 1, 28, 28)
    assert torch.equal(x, task.example_input(3))
    assert task.build_model()(x).shape == (3, 10)


@pytest.mark.skipif(not Path(DEFAULT_DATA_DIR, FILES["train_images"]).is_file(), reason="Fashion-MNIST not installed")
def test_real_files_load(monkeypatch):
    monkeypatch.delenv("AUTOPRUNE_DATA_DIR", raising=False)
    task = get_task("fashion-mnist-cnn")
    train, val = task._data
    assert len(train) == 60_000 and len(val) == 5_000
    assert train.x.shape == (60_000, 1, 28, 28) and train.x.dtype == torch.uint8
    assert sorted(torch.bincount(train.y).tolist()) == [6_000] * 10  # balanced classes
    x, y = next(iter(task.train_batches(0)))
    assert x.shape == (128, 1, 28, 28) and y.shape == (128,)
    assert sum(len(y) for _, y in task.train_batches(0)) == 12_000


def test_pickled_task_leaves_its_arrays_behind(tmp_path):
    import pickle

    task = FashionMNISTCNN(data_dir=_fake_dataset(tmp_path / "fm"), train_limit=6)
    before = [y.tolist() for _, y in task.train_batches(0)]
    assert "_data" in task.__dict__
    clone = pickle.loads(pickle.dumps(task))
    assert "_data" not in clone.__dict__
    assert [y.tolist() for _, y in clone.train_batches(0)] == before


@pytest.mark.skipif(not Path(DEFAULT_DATA_DIR, FILES["train_images"]).is_file(), reason="Fashion-MNIST not installed")
def test_a_channel_trial_runs_end_to_end_on_the_real_data(tmp_path):
    from autoprune import Recipe
    from autoprune.baseline import get_baseline
    from autoprune.trial import LatencyConfig, run_trial

    # the real files, with small per-epoch subsets so the test stays quick
    task = FashionMNISTCNN(train_limit=3_000, val_limit=1_000)
    task.baseline_epochs = 2
    baseline = get_baseline(task, 0, cache=tmp_path)
    assert baseline.accuracy > 0.7
    result = run_trial(task, Recipe(granularity="channel", sparsity=0.5, finetune_epochs=1), baseline,
                       latency=LatencyConfig(warmup=2, repeats=5))
    assert result.params_total < 0.4 * result.baseline_params_total
    assert result.accuracy > 0.6
    assert result.latency_ms < result.baseline_latency_ms
