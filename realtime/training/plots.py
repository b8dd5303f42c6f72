"""Figures for the README: training curves and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def save_training_curves(history: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss_ax.plot(epochs, history["loss"], label="train (augmented)")
    loss_ax.plot(epochs, history["val_loss"], label="validation")
    loss_ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
    acc_ax.plot(epochs, 100 * (1 - np.array(history["accuracy"])), label="train (augmented)")
    acc_ax.plot(epochs, 100 * (1 - np.array(history["val_accuracy"])), label="validation")
    acc_ax.set(xlabel="epoch", ylabel="error %", yscale="log", title="Error rate")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_confusion_matrix(labels: np.ndarray, predicted: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    matrix = np.zeros((10, 10), int)
    np.add.at(matrix, (labels, predicted), 1)
    errors = matrix.copy()
    np.fill_diagonal(errors, 0)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    image = ax.imshow(errors, cmap="Reds")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="black" if i != j else "tab:blue")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"MNIST test: {int(np.trace(matrix))}/{matrix.sum()} right")
    fig.colorbar(image, ax=ax, label="errors")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_reliability_diagram(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    """Accuracy against confidence in 10 bins, one line per (confidence, correct) pair of `curves`."""
    from .calibrate import expected_calibration_error

    path.parent.mkdir(parents=True, exist_ok=True)
    edges = np.linspace(0, 1, 11)
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for label, (confidence, correct) in curves.items():
        which = np.clip(np.digitize(confidence, edges[1:-1]), 0, 9)
        centres = [confidence[which == b].mean() for b in range(10) if (which == b).sum() >= 5]
        accuracy = [correct[which == b].mean() for b in range(10) if (which == b).sum() >= 5]
        ece = expected_calibration_error(confidence, correct)
        ax.plot(centres, accuracy, marker="o", label=f"{label} (ECE {ece:.2%})")
    ax.set(xlabel="confidence (top probability)", ylabel="accuracy", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
