"""The server builds only the LiteRT interpreters its batches can use: each one holds its own buffers."""

from __future__ import annotations

import numpy as np

from realtime.paths import DEFAULT_MODEL
from realtime.serving.predictor import Predictor


def test_warm_up_builds_the_sizes_up_to_the_largest_batch_only():
    predictor = Predictor.from_file(DEFAULT_MODEL)
    predictor.warm_up(8)
    assert sorted(predictor._interpreters) == [1, 2, 4, 8]
    predictor.warm_up(5)  # a batch of 5 is padded to 8
    assert sorted(predictor._interpreters) == [1, 2, 4, 8]
    assert predictor(np.zeros((20, 28, 28), np.float32)).shape == (20, 11)  # larger ones still come when asked
    assert sorted(predictor._interpreters) == [1, 2, 4, 8, 32]
