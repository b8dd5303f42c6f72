"""Temporary: the old home of the shared test helpers, kept while parallel branches merge (see tests/support)."""

from tests.support.answers import CHECK_DIGITS, expect_digit, input28, percentile  # noqa: F401
from tests.support.apps import make_app  # noqa: F401
from tests.support.clients import InOrderClient, RawClient, Recorder  # noqa: F401
from tests.support.pictures import *  # noqa: F403
from tests.support.servers import assert_healthy, rss_mb, stats, tracebacks, wait_idle  # noqa: F401
