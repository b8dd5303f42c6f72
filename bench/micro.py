"""In-process micro-benchmarks: model call, preprocessing and the teaching lens.

Runs in its own process (`python -m bench.micro --model PATH`) so that TensorFlow never
loads into the harness, and prints one JSON object on its last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float | int]:
    """Median (and spread) of `repeats` calls, in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000.0)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 4),
            "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 4),
            "min_ms": round(samples[0], 4), "n": len(samples)}


def inference(model_path: str, repeats: int) -> dict:
    import numpy as np

    from realtime.serving.config import DEFAULTS
    from realtime.serving.predictor import Predictor
    from realtime.training.network import load_model

    predictor = Predictor.from_file(model_path, threads=DEFAULTS["INFERENCE_THREADS"])
    model = load_model(Path(model_path).with_suffix(".keras"))  # the baseline: model.predict
    predictor.warm_up()
    rng = np.random.default_rng(0)
    batches = {size: rng.random((size, 28, 28, 1), dtype=np.float32) for size in (1, 32)}
    out: dict[str, dict] = {"predictor": {}, "model_predict": {}}
    for size, batch in batches.items():
        out["predictor"][f"batch{size}"] = timed(lambda b=batch: predictor(b), repeats, warmup=10)
        out["model_predict"][f"batch{size}"] = timed(lambda b=batch: model.predict(b, verbose=0),
                                                     max(5, repeats // 5), warmup=3)
    for size in (1, 32):
        ours, theirs = out["predictor"][f"batch{size}"], out["model_predict"][f"batch{size}"]
        ours["per_image_ms"] = round(ours["median_ms"] / size, 4)
        theirs["per_image_ms"] = round(theirs["median_ms"] / size, 4)
    return out


PREPROCESSING_BUDGET_CPU_MS = {"canvas_snapshot": 0.4, "canvas_280_rgba": 0.6, "canvas_280_rgb": 0.6,
                               "canvas_280_grey": 0.6, "canvas_1000_rgba": 2.0}


def preprocessing(repeats: int) -> dict:
    """Median wall time and mean CPU time of one picture through each server's preprocessing, from what
    arrives (data URL or bytes) to the 28x28 input: the page's crop, whole canvas exports, a photo."""
    import io

    from PIL import Image

    from bench import images
    from bench.baseline_server import preprocess as baseline_preprocess
    from realtime.pipeline.imaging import decode_base64_image, open_image
    from realtime.pipeline.preprocess import prepare_bytes

    def canvas_url(kind: str, size: int) -> str:
        return images.data_url(images.canvas_export(7, kind, size, scale=0.8, offset=(0.1, 0.1)))

    inputs: dict[str, bytes | str] = {
        "canvas_snapshot": images.snapshot_png(7),
        "canvas_280": images.canvas_png(7),
        **{f"canvas_280_{kind}": canvas_url(kind, 280) for kind in images.CANVAS_KINDS},
        "canvas_1000_rgba": canvas_url("rgba", 1000),
        "photo_12mp": images.photo_jpeg(),
    }
    out: dict[str, dict] = {"inputs": {}, "ours": {}, "baseline": {}, "budget_cpu_ms": PREPROCESSING_BUDGET_CPU_MS}
    for name, payload in inputs.items():
        data = decode_base64_image(payload) if isinstance(payload, str) else payload
        with Image.open(io.BytesIO(data)) as probe:
            out["inputs"][name] = {"format": probe.format, "mode": probe.mode, "size": list(probe.size),
                                   "bytes": len(data), "as": "data URL" if isinstance(payload, str) else "bytes"}

        def ours(p=payload):
            return prepare_bytes(decode_base64_image(p) if isinstance(p, str) else p)

        def baseline(p=payload):
            return baseline_preprocess(decode_base64_image(p) if isinstance(p, str) else p)

        def pillow_decode(d=data):
            with Image.open(io.BytesIO(d)) as picture:
                picture.load()

        few = repeats if name != "photo_12mp" else max(3, repeats // 10)
        # The decoding alone (bytes to pixels) is the floor under each picture's budget.
        # CPU per picture: the least of five batches' means (see `cpu_ms`), and the mean over every call.
        out["ours"][name] = {**timed(ours, few, warmup=2), "cpu_ms": cpu_ms(ours, few, 5),
                             "cpu_ms_mean": cpu_ms(ours, few),
                             "decode_cpu_ms": cpu_ms(lambda d=data: open_image(d), few, 5)}
        out["baseline"][name] = {**timed(baseline, few, warmup=2), "cpu_ms": cpu_ms(baseline, few, 5),
                                 "cpu_ms_mean": cpu_ms(baseline, few),
                                 "decode_cpu_ms": cpu_ms(pillow_decode, few, 5)}
    return out


def cpu_ms(fn: Callable[[], object], repeats: int, batches: int = 1) -> float:
    """CPU time of the process (every thread) per call, in milliseconds: the mean over `repeats` calls, or
    with `batches`, the least of that many batches' means. On a shared machine another tenant's work only
    ever adds time (cache misses, page faults, interrupts), so the least batch is the code's own cost,
    as `timeit` advises. The preprocessing figures give the mean over every call beside it (`cpu_ms_mean`)."""
    means = []
    for _ in range(batches):
        started = time.process_time()
        for _ in range(max(1, repeats // batches)):
            fn()
        means.append((time.process_time() - started) * 1000 / max(1, repeats // batches))
    return round(min(means), 3)


def explain(model_path: str, repeats: int) -> dict:
    """The teaching lens's server time for one finished drawing: the evidence map alone, with the
    plain-resize view (as served: one batch), and the feature maps of every convolution (budgets:
    25 ms and 50 ms on 2 cores)."""
    import numpy as np

    from bench import images
    from realtime.pipeline.imaging import ImageLimits
    from realtime.pipeline.occlusion import patch_corners
    from realtime.pipeline.preprocess import prepare_bytes
    from realtime.serving.config import DEFAULTS
    from realtime.serving.explain import Explainer, naive_of, picture_of_bytes
    from realtime.serving.layers import LayerTaps
    from realtime.serving.predictor import Predictor

    predictor = Predictor.from_file(model_path, threads=DEFAULTS["INFERENCE_THREADS"])
    predictor.warm_up()
    explainer = Explainer(predictor, DEFAULTS["EXPLAIN_PATCH"], DEFAULTS["EXPLAIN_STRIDE"])
    taps = LayerTaps(predictor.flatbuffer)
    few = max(20, repeats // 5)
    out: dict[str, dict] = {"evidence": {}, "evidence_and_naive": {}, "layers": {}, "occluded_images": {}}
    for digit in (0, 1, 4, 7):
        data = images.snapshot_png(digit)
        prepared = prepare_bytes(data)
        payload = {"digit": int(np.argmax(predictor(prepared.x[None])[0]))}
        picture = picture_of_bytes(images.canvas_png(digit), ImageLimits())
        name = f"digit{digit}"
        out["occluded_images"][name] = len(patch_corners(prepared.x, explainer.patch, explainer.stride))
        out["evidence"][name] = timed(lambda p=prepared, a=payload: explainer.explain(a, p, None), few)
        out["evidence_and_naive"][name] = timed(
            lambda p=prepared, a=payload, c=picture: explainer.explain(a, p, naive_of(c)), few)
        out["layers"][name] = timed(lambda p=prepared: taps.payload(p.x, DEFAULTS["LAYER_MAPS_SHOWN"]), few)
        # CPU time (all threads) per call: what a loaded machine's wall-clock figures hide.
        out["evidence"][name]["cpu_ms"] = cpu_ms(lambda p=prepared, a=payload: explainer.explain(a, p), few)
        out["layers"][name]["cpu_ms"] = cpu_ms(lambda p=prepared: taps.payload(p.x, DEFAULTS["LAYER_MAPS_SHOWN"]), few)
    out["budget_ms"] = {"evidence": 25, "layers": 50}
    out["cpu_count"] = os.cpu_count()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="model-call, preprocessing and teaching-lens micro-benchmarks")
    parser.add_argument("--model", required=True)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--only", choices=("inference", "preprocessing", "explain"), default=None)
    args = parser.parse_args(argv)
    sections = {"inference": lambda: inference(args.model, args.repeats),
                "preprocessing": lambda: preprocessing(args.repeats),
                "explain": lambda: explain(args.model, args.repeats)}
    result = {name: run() for name, run in sections.items() if args.only in (None, name)}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
