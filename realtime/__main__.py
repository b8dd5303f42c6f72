"""`python -m realtime`: the same as `realtime-digits` and `python server.py`."""

from realtime.serving.cli import main

main(prog="python -m realtime")
