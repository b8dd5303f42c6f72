"""The JSON a prediction answers with, over HTTP and Socket.IO alike."""

from __future__ import annotations

import numpy as np

from ..pipeline.preprocess import Prepared


def prediction_payload(prepared: Prepared, probabilities: np.ndarray | None, inference_ms: float) -> dict:
    if prepared.blank or probabilities is None:
        return {"digit": None, "confidence": 0.0, "top3": [], "probabilities": [0.0] * 10,
                "blank": True, "input28": prepared.data_url(), "inference_ms": 0.0}
    probabilities = np.asarray(probabilities, np.float64)
    order = np.argsort(-probabilities)
    # Not rounded: 0.999996 rounded to 5 places is 1.0, which the page would have to show as "100%".
    top = [{"digit": int(d), "probability": float(probabilities[d])} for d in order[:3]]
    return {
        "digit": top[0]["digit"],
        "confidence": top[0]["probability"],
        "top3": top,
        "probabilities": [float(p) for p in probabilities],
        "blank": False,
        "input28": prepared.data_url(),
        "inference_ms": round(inference_ms, 3),
    }
