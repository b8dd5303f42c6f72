"""The app: Flask routes, Socket.IO events, the scheduler and the LiteRT predictor.

Import rule: never TensorFlow or Keras. The server runs the exported `.tflite` model with
LiteRT, so `pip install .` needs neither (tests/unit/test_layout.py checks it). Only a
`--model` given as a `.keras` file makes `predictor` import the training room, lazily.

- `app`: the application factory; `config`: settings and their environment variables
- `routes`, `events`, `inputs`, `results`: HTTP, Socket.IO, reading a request, the answer's JSON
- `scheduler` (threads and queues) and `policy` (which frames go next: pure functions)
- `prep_pool`: preprocessing in child processes; `predictor`: the model call
- `edge` (a WSGI middleware around everything: Host, Origin, sizes, per-client limits, headers),
  `packets` (every Socket.IO packet paced and checked) and `guards` (their rules: pure functions);
  see docs/security.md
- `runtime`: everything that depends on the async mode (eventlet or threading), the WSGI servers'
  caps and timeouts included
- `cli`: the command line and the serve loop
"""
