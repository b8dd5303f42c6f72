"""Export a trained Keras model to the LiteRT file the server runs, and record both in the card.

`python -m realtime.training.export [--model digits.keras]` writes `digits.tflite` beside it
(float32 as trained) and the SHA-256 of both files into the model card, so that a server
without TensorFlow can tell which model it serves.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..paths import KERAS_MODEL, MODEL_CARD, file_sha256


def card_path_for(model_path: Path) -> Path:
    """The shipped model's card is `model_card.json`; any other model's is `<stem>.card.json`."""
    return MODEL_CARD if model_path.resolve() == KERAS_MODEL.resolve() else model_path.with_name(
        model_path.stem + ".card.json")


def export_litert(keras_path: Path, tflite_path: Path | None = None) -> Path:
    """Convert `keras_path` to a `.tflite` file next to it (or at `tflite_path`)."""
    from .network import load_model, to_litert

    tflite_path = tflite_path or keras_path.with_suffix(".tflite")
    tflite_path.write_bytes(to_litert(load_model(keras_path)))
    return tflite_path


def record_files(card: dict, keras_path: Path, tflite_path: Path) -> dict:
    """The card's file entries: the served `.tflite` first (`file`, `sha256`), both under `files`."""
    files = {path.name: {"sha256": file_sha256(path), "size_bytes": path.stat().st_size}
             for path in (tflite_path, keras_path)}
    card.update(file=tflite_path.name, sha256=files[tflite_path.name]["sha256"],
                size_bytes=files[tflite_path.name]["size_bytes"], files=files)
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime.training.export", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=KERAS_MODEL, help="the .keras file to export")
    args = parser.parse_args(argv)
    tflite_path = export_litert(args.model)
    card_path = card_path_for(args.model)
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card_path.write_text(json.dumps(record_files(card, args.model, tflite_path), indent=2) + "\n")
    print(f"wrote {tflite_path} ({tflite_path.stat().st_size / 1e6:.2f} MB) and its card {card_path}")


if __name__ == "__main__":
    main()
