"""Where child processes cannot be fed (Windows: no pass_fds, no select() on pipes), the server still serves."""

from __future__ import annotations

from realtime.pipeline.imaging import ImageLimits
from realtime.serving import prep_pool
from tests.support.pictures import draw_digit, png_bytes


def test_without_posix_pipes_the_pool_decodes_in_the_calling_thread(monkeypatch):
    monkeypatch.setattr(prep_pool, "CHILDREN_POSSIBLE", False)
    pool = prep_pool.PreparePool(2, ImageLimits(40_000_000, 20_000))
    try:
        assert pool.processes == 0
        outcomes = pool.prepare_many([png_bytes(draw_digit(1)), png_bytes(draw_digit(7)), b"not an image"])
    finally:
        pool.close()
    assert [type(outcome).__name__ for outcome in outcomes] == ["Prepared", "Prepared", "InputError"]
    assert not outcomes[0].blank and outcomes[0].x.shape == (28, 28)
