"""The rule that keeps answer seqs to one Socket.IO client increasing, without sockets."""

from __future__ import annotations

from realtime.serving.answer_order import AnswerOrder


def sender(order: AnswerOrder, sent: list):
    def send(sid: str, seq: int | None) -> bool:
        return order.send(sid, seq, lambda: sent.append((sid, seq)))
    return send


def test_an_answer_not_newer_than_one_sent_is_dropped():
    order, sent = AnswerOrder(), []
    send = sender(order, sent)
    order.open("a")
    order.open("b")
    assert send("a", 218) and send("b", 1)
    assert not send("a", 217) and not send("a", 218)  # the older frame's answer, and a repeat
    assert send("a", 219)
    assert sent == [("a", 218), ("b", 1), ("a", 219)] and order.dropped == 2


def test_an_answer_without_a_seq_is_always_sent_and_orders_nothing():
    order, sent = AnswerOrder(), []
    send = sender(order, sent)
    order.open("a")
    assert send("a", 5) and send("a", None) and send("a", None)
    assert not send("a", 4) and send("a", 6)
    assert sent == [("a", 5), ("a", None), ("a", None), ("a", 6)]


def test_a_client_that_left_is_forgotten():
    order, sent = AnswerOrder(), []
    send = sender(order, sent)
    order.open("a")
    assert send("a", 9)
    order.forget("a")
    assert not send("a", 10)  # an answer in flight when its client left: dropped, and not recorded
    order.open("a")  # a new client with the same sid starts afresh
    assert send("a", 1)
    assert sent == [("a", 9), ("a", 1)]
