"""The model call the server makes: the exported LiteRT flatbuffer, run by LiteRT's interpreter.

No TensorFlow here: `pip install .` brings LiteRT alone. A `.keras` file is still accepted
where TensorFlow is installed (the training room converts it at start-up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .results import UnsureRule
from .runtime import os_threading

INPUT_SHAPE = (28, 28, 1)
# Batches are padded up to one of these sizes: one interpreter, with its buffers, per size.
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
# Batches smaller than this run on one thread whatever `threads` says: splitting a few images
# over cores costs more in hand-offs than it saves.
PARALLEL_FROM = 8


def load_flatbuffer(path: Path | str) -> bytes:
    """The LiteRT model in `path`: a `.tflite` file as it is, a `.keras` file converted (needs TensorFlow)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if path.suffix != ".keras":
        return path.read_bytes()
    try:
        from ..training.network import load_model, to_litert
    except ImportError as exc:
        raise FileNotFoundError(
            f"{path} is a Keras model, which needs TensorFlow; use its exported .tflite, "
            "or install the training set (pip install .[train])") from exc
    return to_litert(load_model(path))


class Predictor:
    """Probabilities for a batch of 28x28 inputs, with one LiteRT interpreter per padded batch size.

    `invoke` releases the GIL, so the event loop runs on while the model does. XNNPACK kernels;
    see docs/performance.md for how it compares with Keras and XLA.
    """

    def __init__(self, flatbuffer: bytes, threads: int = 0, unsure_rule: UnsureRule | None = None) -> None:
        """`threads`: CPU threads for a batch of PARALLEL_FROM images or more (0: every core).

        `unsure_rule`: the thresholds of this model's card, which the scheduler's answers apply.
        """
        from ai_edge_litert.interpreter import Interpreter

        self.threads = threads
        self.unsure_rule = unsure_rule or UnsureRule()
        self._flatbuffer = flatbuffer
        self._interpreter_class = Interpreter
        self._interpreters: dict[int, tuple[Any, int, int]] = {}
        # An interpreter runs one call at a time. A real OS lock: the callers are OS threads, and
        # under eventlet a plain threading.Lock is a green one that cannot block an OS thread.
        self._lock = os_threading().Lock()

    @classmethod
    def from_file(cls, path: Path | str, threads: int = 0) -> Predictor:
        return cls(load_flatbuffer(path), threads, UnsureRule.for_model(path))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(n, 28, 28) or (n, 28, 28, 1) float32 in, the model's (n, 11) calibrated probabilities out.

        Columns 0-9 are the digits, 10 is "not a digit" (a model without it gives (n, 10)).
        """
        batch = np.asarray(batch, np.float32).reshape((-1, *INPUT_SHAPE))
        largest = BATCH_SIZES[-1]
        parts = [self._padded_call(batch[start:start + largest]) for start in range(0, len(batch), largest)]
        if not parts:
            return np.zeros((0, self.outputs), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @property
    def flatbuffer(self) -> bytes:
        """The model, for another interpreter of it (the teaching lens's layer taps)."""
        return self._flatbuffer

    def _padded_call(self, part: np.ndarray) -> np.ndarray:
        count = len(part)
        size = next(size for size in BATCH_SIZES if size >= count)
        if size > count:
            part = np.concatenate([part, np.zeros((size - count, *INPUT_SHAPE), np.float32)])
        with self._lock:
            interpreter, input_index, output_index = self._interpreter(size)
            interpreter.set_tensor(input_index, np.ascontiguousarray(part))
            interpreter.invoke()
            return interpreter.get_tensor(output_index)[:count].copy()

    @property
    def outputs(self) -> int:
        """How many values the model gives per image: 11 (ten digits and "not a digit"), or 10."""
        interpreter = self._interpreter(1)[0]
        return int(interpreter.get_output_details()[0]["shape"][-1])

    def _interpreter(self, size: int) -> tuple[Any, int, int]:
        if size not in self._interpreters:
            num_threads = 1 if size < PARALLEL_FROM else self.threads if self.threads > 0 else (os.cpu_count() or 1)
            interpreter = self._interpreter_class(model_content=self._flatbuffer, num_threads=num_threads)
            input_index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(input_index, [size, *INPUT_SHAPE])
            interpreter.allocate_tensors()
            self._interpreters[size] = (interpreter, input_index, interpreter.get_output_details()[0]["index"])
        return self._interpreters[size]

    def warm_up(self, largest_batch: int = BATCH_SIZES[-1]) -> None:
        """Build and run once now every interpreter a batch of up to `largest_batch` can need, so that
        no request waits for that; the larger ones are never built (each holds its own buffers)."""
        for size in BATCH_SIZES:
            self(np.zeros((size, *INPUT_SHAPE), np.float32))
            if size >= largest_batch:
                break
