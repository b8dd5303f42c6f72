"""Pipeline outputs on the whole evaluation corpus, saved or compared: `python -m bench.equivalence`.

A speed change to `realtime.pipeline` must not change what the model sees. Run it with
`--save ref.npz` on the commit before the change and `--against ref.npz` after: it prints, per
set, how many 28x28 inputs are identical, the largest and mean absolute difference, and how
many blank verdicts changed; with `--model`, also how many answers (the digit read) changed and
the largest change of a probability, for a change that moves inputs on purpose (docs/performance.md
has the figures of the last change).

The corpus is the evaluation sets of `realtime.training.evaluate` (MNIST test, blank pads, the
out-of-distribution and writer-like sets) plus full canvas exports as the contract allows them
(280x280 and 1000x1000; transparent RGBA, opaque RGB and grey; PNG data URLs) and the page's crops.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from pathlib import Path

import numpy as np

from realtime.pipeline.imaging import decode_base64_image
from realtime.pipeline.preprocess import prepare_bytes
from realtime.pipeline.strokes import prepare_strokes

from . import images


def canvas_corpus(count: int, seed: int = 11) -> list[tuple[str, int]]:
    """Full canvas exports as data URLs: every kind and size, digits drawn at random size, place and pen."""
    rng = np.random.default_rng(seed)
    corpus = []
    for i in range(count):
        digit = i % 10
        kind = ("rgba", "rgb", "grey")[i % 3]
        size = 1000 if i % 4 == 3 else 280
        scale = float(rng.uniform(0.25, 0.95))
        offset = (float(rng.uniform(0, 1 - scale)), float(rng.uniform(0, 1 - scale)))
        pen = float(rng.uniform(0.01, 0.1))
        corpus.append((images.data_url(images.canvas_export(digit, kind, size, 1.0, scale, offset, pen)), digit))
    return corpus


def page_crops(count: int) -> list[tuple[bytes, int]]:
    return [(frame, -1) for variant in range(count // 120 + 1) for frame in images.stream_frames(variant)][:count]


def corpus(count: int) -> dict[str, list]:
    from realtime.training.evaluate import ALL_SETS, samples_for

    sets = {name: samples_for(name, count, 7) for name in ALL_SETS}
    sets["canvas_exports"] = canvas_corpus(count or 1200)
    sets["page_crops"] = page_crops(count or 1200)
    return sets


def prepare(sample: tuple) -> tuple[np.ndarray, bool]:
    payload = sample[0]
    if isinstance(payload, str):
        prepared = prepare_bytes(decode_base64_image(payload))
    elif isinstance(payload, bytes):
        prepared = prepare_bytes(payload)
    else:
        prepared = prepare_strokes(payload["strokes"], payload["size"])
    return prepared.x, prepared.blank


def outputs(sets: dict[str, list], processes: int) -> dict[str, np.ndarray]:
    arrays = {}
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for name, samples in sets.items():
            prepared = pool.map(prepare, samples, chunksize=32)
            arrays[f"{name}.x"] = np.stack([x for x, _ in prepared]).astype(np.float32)
            arrays[f"{name}.blank"] = np.array([blank for _, blank in prepared])
    return arrays


def compare(new: dict[str, np.ndarray], old: dict[str, np.ndarray], model: Path | None = None) -> dict[str, dict]:
    predictor = None
    if model is not None:
        from realtime.serving.predictor import Predictor

        predictor = Predictor.from_file(model)
    report = {}
    for key in sorted(k for k in new if k.endswith(".x")):
        name = key[:-2]
        a, b = new[key], old[key]
        diff = np.abs(a - b).reshape(len(a), -1).max(axis=1)
        report[name] = {"n": len(a), "identical": int(np.sum(diff == 0)), "within_1_255": int(np.sum(diff <= 1 / 255)),
                        "max_abs": round(float(diff.max()), 4), "mean_abs": round(float(np.abs(a - b).mean()), 6),
                        "blank_changed": int(np.sum(new[f"{name}.blank"] != old[f"{name}.blank"]))}
        if predictor is not None:
            moved = np.flatnonzero(diff > 0)
            ours, theirs = (predictor(x[moved][..., None]) if moved.size else np.zeros((0, 11)) for x in (a, b))
            report[name]["answers_changed"] = int(np.sum(ours[:, :10].argmax(1) != theirs[:, :10].argmax(1)))
            report[name]["max_probability_change"] = round(float(np.abs(ours - theirs).max(initial=0.0)), 4)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.equivalence", description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write this commit's outputs here (.npz)")
    parser.add_argument("--against", type=Path, help="compare this commit's outputs with these (.npz)")
    parser.add_argument("--count", type=int, default=0, help="samples per set (default: the evaluation's)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", type=Path, help="also compare the answers this model gives to both inputs")
    args = parser.parse_args(argv)
    arrays = outputs(corpus(args.count), args.processes)
    if args.save:
        np.savez_compressed(args.save, **arrays)
    if args.against:
        with np.load(args.against) as old:
            report = compare(arrays, dict(old), args.model)
        answers = " answers changed, max probability change" if args.model else ""
        print(f"{'set':16s} {'n':>6s} {'identical':>9s} {'<=1/255':>8s} {'max abs':>8s} {'mean abs':>9s} "
              f"blank changed{answers}")
        for name, r in report.items():
            extra = f" {r['answers_changed']:7d} {r['max_probability_change']:.4f}" if args.model else ""
            print(f"{name:16s} {r['n']:6d} {r['identical']:9d} {r['within_1_255']:8d} {r['max_abs']:8.4f} "
                  f"{r['mean_abs']:9.6f} {r['blank_changed']:13d}{extra}")


if __name__ == "__main__":
    main()
