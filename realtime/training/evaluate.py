"""Evaluate a model through the exact serving pipeline: `python -m realtime.training.evaluate`.

Every image goes in as encoded bytes, as the server receives it (PNG for MNIST,
PNG or JPEG for the out-of-distribution sets of `oodsets.py` and `writersets.py`),
through `preprocess.prepare_bytes`, or as a snapshot's strokes through
`strokes.prepare_strokes`, then the LiteRT predictor in batches. Besides accuracy, each
set gets the honesty figures of the served answers: ECE (10 bins), the share wrong with
confidence >= 0.9, and how often `unsure` is set (by the model card's rule).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from ..pipeline.preprocess import prepare_bytes
from ..pipeline.strokes import prepare_strokes
from . import oodsets, writersets
from .calibrate import NOT_A_DIGIT, expected_calibration_error

ALL_SETS = ("mnist", "blank", *oodsets.SET_NAMES, *writersets.WRITER_SETS)


def mnist_test_bytes(limit: int = 0) -> list[tuple[bytes, int]]:
    from .data import load_mnist
    from .dataset import mnist_to_uint8

    test = load_mnist().test
    images, labels = mnist_to_uint8(test.images), test.labels
    if limit:
        images, labels = images[:limit], labels[:limit]
    return [(_png(image), int(label)) for image, label in zip(images, labels, strict=True)]


def blank_bytes(count: int, seed: int = 3) -> list[tuple[bytes, int]]:
    """Pictures with no digit: empty pads, transparent canvases, plain and noisy paper."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        side = int(rng.choice([28, 200, 280, 640]))
        kind = i % 5
        if kind == 0:
            picture = Image.new("L", (side, side), 255)
        elif kind == 1:
            picture = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        elif kind == 2:
            picture = Image.new("L", (side, side), 0)
        elif kind == 3:  # paper grain under uneven light
            yy = np.linspace(0, 1, side)[:, None]
            paper = 0.85 - 0.25 * yy + rng.normal(0, 0.02, (side, side))
            picture = Image.fromarray(np.clip(paper * 255, 0, 255).astype(np.uint8))
        else:  # a plain colour, JPEG-compressed
            colour = tuple(int(c) for c in rng.integers(60, 255, 3))
            picture = Image.new("RGB", (side, side), colour)
        samples.append((_png(np.asarray(picture)), -1))
    return samples


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _prepare(sample: tuple[bytes | dict, int]) -> tuple[np.ndarray, bool]:
    payload = sample[0]
    prepared = prepare_bytes(payload) if isinstance(payload, bytes) else prepare_strokes(
        payload["strokes"], payload["size"])
    return prepared.x, prepared.blank


def evaluate_set(predict, samples: list[tuple[bytes | dict, int]], processes: int = 1,
                 answers: dict | None = None) -> dict:
    """Accuracy and honesty of `predict` on (payload, label) samples; label -1: blank, 10: not a digit."""
    started = time.perf_counter()
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            prepared = pool.map(_prepare, samples, chunksize=64)
    else:
        prepared = [_prepare(sample) for sample in samples]
    labels = np.array([label for _, label in samples])
    blank = np.array([is_blank for _, is_blank in prepared])
    inputs = np.stack([x for x, _ in prepared])
    scores = np.concatenate([predict(inputs[start:start + 256]) for start in range(0, len(samples), 256)])
    digits = scores[:, :10] / scores[:, :10].sum(axis=1, keepdims=True)
    not_digit = scores[:, 10] if scores.shape[1] > 10 else np.zeros(len(samples))
    predicted = digits.argmax(axis=1)
    predicted[blank] = -1  # blank means no digit, never a guess
    confidence = digits.max(axis=1)
    correct = predicted == labels
    rule = getattr(predict, "unsure_rule", None)
    flagged = not_digit >= (rule.not_digit if rule else 0.5)
    unsure = flagged | (confidence < (rule.confidence if rule else 0.5))
    answered = ~blank & (labels >= 0) & (labels < NOT_A_DIGIT)
    if answers is not None:  # the digits' confidence and rightness, for a reliability diagram
        answers.update(confidence=confidence[answered], correct=correct[answered])
    honesty = {}
    if answered.any():
        honesty = {"ece": round(expected_calibration_error(confidence[answered], correct[answered]), 5),
                   "wrong_confident": round(float(np.mean(~correct[answered] & (confidence[answered] >= 0.9))), 5),
                   "unsure": round(float(unsure[answered].mean()), 5),
                   "flagged_not_digit": round(float(flagged[answered].mean()), 5)}
    if (labels == NOT_A_DIGIT).any():  # a non-digit set: "accuracy" is the share flagged as not a digit
        correct = flagged | blank
        honesty = {"unsure": round(float((unsure | blank)[labels == NOT_A_DIGIT].mean()), 5)}
    errors: dict[str, int] = {}
    for true, guess in zip(labels[~correct], predicted[~correct], strict=True):
        key = f"{true}->{'blank' if guess < 0 else guess}"
        errors[key] = errors.get(key, 0) + 1
    return {"count": len(samples), "accuracy": round(float(correct.mean()), 5), **honesty,
            "reported_blank": int(blank.sum()), "seconds": round(time.perf_counter() - started, 1),
            "common_errors": dict(sorted(errors.items(), key=lambda item: -item[1])[:8])}


def samples_for(name: str, count: int, seed: int) -> list[tuple[bytes, int]]:
    if name == "mnist":
        return mnist_test_bytes(count)
    if name == "blank":
        return blank_bytes(count or 1000, seed)
    if name in writersets.WRITER_SETS:
        return list(writersets.generate(name, count or 2000, seed))
    return list(oodsets.generate(name, count or 1000, seed))


def run(model_path: str | None, sets: Iterable[str], count: int, seed: int, processes: int,
        reliability: Path | None = None) -> dict:
    # Images are generated and prepared before TensorFlow loads (worker processes fork).
    prepared_sets = {name: samples_for(name, count, seed) for name in sets}
    from ..paths import DEFAULT_MODEL
    from ..serving.predictor import Predictor

    predictor = Predictor.from_file(model_path or DEFAULT_MODEL)
    results, answers = {}, {}
    for name, samples in prepared_sets.items():
        answers[name] = {}
        results[name] = evaluate_set(predictor, samples, processes, answers[name])
        r = results[name]
        honesty = "".join(f"  {key}={r[key]:.2%}" for key in ("ece", "wrong_confident", "unsure") if key in r)
        print(f"{name:10s} {r['accuracy']:8.2%}  n={r['count']:5d}  blank={r['reported_blank']:4d}{honesty}  "
              f"{r['seconds']:6.1f}s  {r['common_errors']}", flush=True)
    writers = [answers[name] for name in writersets.WRITER_SETS if answers.get(name, {}).get("confidence") is not None]
    if reliability and writers:
        from .plots import save_reliability_diagram

        curves = {}
        if "mnist" in answers:
            curves["MNIST test"] = (answers["mnist"]["confidence"], answers["mnist"]["correct"])
        curves["writer sets"] = (np.concatenate([a["confidence"] for a in writers]),
                                 np.concatenate([a["correct"] for a in writers]))
        save_reliability_diagram(curves, reliability, "Served confidence on the evaluation sets")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime.training.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: the shipped one)")
    parser.add_argument("--sets", default=",".join(ALL_SETS), help=f"comma-separated, from {ALL_SETS}")
    parser.add_argument("--count", type=int, default=0,
                        help="images per set (default: all MNIST, 2000 writer sets, 1000 others)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--reliability", type=Path, default=None,
                        help="also draw the reliability diagram of the writer sets here (PNG)")
    args = parser.parse_args(argv)
    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = set(sets) - set(ALL_SETS)
    if unknown:
        parser.error(f"unknown sets {sorted(unknown)}; choose from {ALL_SETS}")
    print(f"{'set':10s} {'accuracy':>8s}  (blank: share reported blank; not_digit: share flagged not a digit)")
    results = run(args.model, sets, args.count, args.seed, args.processes, args.reliability)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
