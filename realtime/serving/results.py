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
    top = [{"digit": int(d), "probability": round(float(probabilities[d]), 5)} for d in order[:3]]
    return {
        "digit": top[0]["digit"],
        "confidence": top[0]["probability"],
        "top3": top,
        "probabilities": [round(float(p), 5) for p in probabilities],
        "blank": False,
        "input28": prepared.data_url(),
        "inference_ms": round(inference_ms, 3),
    }
