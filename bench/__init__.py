"""Performance benchmark harness: `python -m bench [--quick] [--soak SECONDS]`.

Every figure is measured for the real server (`server.py`) and, in the same run and
under the same load, for a tutorial-style baseline (`bench/baseline_server.py`), so the
numbers that are quoted are ratios, which survive a noisy shared machine.
"""
