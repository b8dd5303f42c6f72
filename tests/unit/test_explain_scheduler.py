"""The scheduler and `Job.explain`: an explanation is made after its batch's other answers are out,
and a failing one still answers the frame (the lens is extra, the prediction is not)."""

from __future__ import annotations

import threading

import numpy as np

from realtime.pipeline.preprocess import Prepared
from realtime.serving.scheduler import InferenceScheduler, Job


def reads_digit(batch: np.ndarray) -> np.ndarray:
    """A stand-in model: says digit int(x[0, 0]); waits at the gate so that frames can gather."""
    GATE.wait(10)
    out = np.zeros((len(batch), 10), np.float32)
    out[np.arange(len(batch)), batch[:, 0, 0].astype(int)] = 1.0
    return out


GATE = threading.Event()


def prepared(digit: int) -> Prepared:
    x = np.zeros((28, 28), np.float32)
    x[0, 0] = digit
    return Prepared(x, False)


def run(jobs_for) -> list[tuple[str, dict | None]]:
    """Submit a first frame, hold the model, submit `jobs_for(record)`, release: they share one batch."""
    delivered: list[tuple[str, dict | None]] = []
    done = threading.Condition()

    def record(name: str):
        def deliver(payload, error):
            with done:
                delivered.append((name, payload))
                done.notify_all()
        return deliver

    def spawn(fn, *args):
        threading.Thread(target=fn, args=args, daemon=True).start()

    scheduler = InferenceScheduler(reads_digit, lambda images: [], spawn=spawn, max_batch=8)
    GATE.clear()
    scheduler.start()
    try:
        scheduler.submit(Job(key="first", deliver=record("first"), prepared=prepared(1)))
        jobs = jobs_for(record, delivered)
        for job in jobs:
            scheduler.submit(job)
        GATE.set()
        with done:
            assert done.wait_for(lambda: len(delivered) == 1 + len(jobs), 10)
    finally:
        GATE.set()
        scheduler.stop()
    return delivered


def test_an_explanation_never_holds_back_the_other_answers_of_its_batch():
    seen_when_explaining: list[list[str]] = []

    def jobs(record, delivered):
        def explain(payload, prepared_input):
            # Runs after the batch's plain answers went out: the pump delivers them meanwhile.
            for _ in range(200):
                if any(name == "plain" for name, _ in delivered):
                    break
                threading.Event().wait(0.01)
            seen_when_explaining.append([name for name, _ in delivered])
            return {**payload, "evidence": {"digit": payload["digit"]}}

        return [Job(key="a", deliver=record("explained"), prepared=prepared(7), explain=explain),
                Job(key="b", deliver=record("plain"), prepared=prepared(3))]

    delivered = dict(run(jobs))
    assert seen_when_explaining == [["first", "plain"]]
    assert delivered["explained"]["evidence"] == {"digit": 7}
    assert "evidence" not in delivered["plain"]


def test_a_failing_explanation_still_answers_the_frame():
    def jobs(record, delivered):
        def explain(payload, prepared_input):
            raise RuntimeError("lens fault")

        return [Job(key="a", deliver=record("explained"), prepared=prepared(4), explain=explain)]

    delivered = dict(run(jobs))
    assert delivered["explained"]["digit"] == 4 and "evidence" not in delivered["explained"]
