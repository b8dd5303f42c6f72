"""A look inside the network: the feature maps of its convolutional layers for one 28x28 input.

Read from the serving model itself: a second LiteRT interpreter of the same flatbuffer, built
with `experimental_preserve_all_tensors` so that intermediate tensors survive `invoke`, on first
use only (the page asks when its "look inside" panel is opened). Convolutions are found by op
type, not by index or name, so any model of the family works, retrained or not. Chosen over a
second exported model: nothing to keep in step at training time, and no extra file to ship.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ..pipeline.lensimage import mosaic, png_data_url
from .runtime import os_threading

CONV_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})
COLUMNS = 4
STAGES = (
    ("edges and strokes", "finds edges and short strokes at every place in the picture"),
    ("parts", "combines strokes into parts: curves, corners, loops, crossings"),
    ("the digit", "responds to whole-digit shapes, coarse but telling digits apart"),
)


def stage_of(index: int, count: int) -> tuple[str, str]:
    """First convolution: edges; last: the digit; the ones between: parts."""
    if index == 0:
        return STAGES[0]
    return STAGES[2] if index == count - 1 else STAGES[1]


class LayerTaps:
    """Feature maps of every convolution for one input, from a lazily built interpreter."""

    def __init__(self, flatbuffer: bytes) -> None:
        self._flatbuffer = flatbuffer
        self._interpreter: Any = None
        self._input_index = 0
        self._taps: list[int] = []
        self._lock = os_threading().Lock()  # called from OS threads (eventlet's tpool too)

    def feature_maps(self, x: np.ndarray) -> list[np.ndarray]:
        """(h, w, channels) float32 activations of each convolution, in network order."""
        with self._lock:
            interpreter = self._build()
            interpreter.set_tensor(self._input_index, np.asarray(x, np.float32).reshape(1, 28, 28, 1))
            interpreter.invoke()
            return [interpreter.get_tensor(index)[0].copy() for index in self._taps]

    def _build(self) -> Any:
        if self._interpreter is None:
            from ai_edge_litert.interpreter import Interpreter

            with warnings.catch_warnings():  # "intended for debugging": it is what we want here
                warnings.simplefilter("ignore")
                interpreter = Interpreter(model_content=self._flatbuffer, num_threads=1,
                                          experimental_preserve_all_tensors=True)
            self._input_index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(self._input_index, [1, 28, 28, 1])
            interpreter.allocate_tensors()
            # The op list is not public API; it is the only way to see op types from Python.
            self._taps = [int(op["outputs"][0]) for op in interpreter._get_ops_details()
                          if op["op_name"] in CONV_OPS]
            self._interpreter = interpreter
        return self._interpreter

    def payload(self, x: np.ndarray, shown: int = 16) -> dict:
        """The `layers` answer: per convolution, its `shown` most active maps as one grid picture."""
        started = time.perf_counter()
        maps = self.feature_maps(x)
        layers = [layer_payload(activations, i, len(maps), shown) for i, activations in enumerate(maps)]
        return {"layers": layers, "layers_ms": round((time.perf_counter() - started) * 1000, 3)}


def layer_payload(activations: np.ndarray, index: int, count: int, shown: int) -> dict:
    """One layer: its most active maps, strongest first, on one brightness scale for the layer."""
    height, width, channels = activations.shape
    strength = activations.reshape(-1, channels).mean(axis=0)
    order = np.argsort(-strength, kind="stable")[:shown]
    picked = np.moveaxis(activations[..., order], -1, 0)
    columns = min(COLUMNS, len(order))
    stage, note = stage_of(index, count)
    return {"name": f"convolution {index + 1} of {count}", "stage": stage, "note": note,
            "size": [height, width], "channels": channels, "shown": len(order), "columns": columns,
            "rows": -(-len(order) // columns), "channel_order": [int(c) for c in order],
            "image": png_data_url(mosaic(picked, columns, float(picked.max())))}
