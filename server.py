"""Start the digit recogniser from a checkout: `python server.py [--host H] [--port P] ...`.

The same as the installed `realtime-digits` command and `python -m realtime`
(see realtime/serving/cli.py for the flags and their environment variables).
"""

from realtime.serving.cli import main

if __name__ == "__main__":
    main()
