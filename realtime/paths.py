"""Where the app's files are: the shipped model, its card, the page's templates and static files.

Plain paths, importable by every room (serving, training, the bench) without loading anything.
Installed from a wheel, the templates and static files sit inside the package; in a checkout
they are the repository's top-level `templates/` and `static/`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent
MODEL_DIR = PACKAGE_DIR / "model"
DEFAULT_MODEL = MODEL_DIR / "digits.tflite"  # what the server runs (LiteRT)
KERAS_MODEL = MODEL_DIR / "digits.keras"  # what training writes and the .tflite is exported from
MODEL_CARD = MODEL_DIR / "model_card.json"


def _web_dir(name: str) -> Path:
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else CHECKOUT_DIR / name


TEMPLATES_DIR = _web_dir("templates")
STATIC_DIR = _web_dir("static")
# Training's caches and outputs belong to a checkout, never to an installed package.
CACHE_DIR = CHECKOUT_DIR / ".cache"
DOCS_DIR = CHECKOUT_DIR / "docs"


def file_sha256(path: Path | str) -> str:
    """The fingerprint the model card records for each model file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
