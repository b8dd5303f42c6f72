"""Picture (or strokes) in, 28x28 model input out.

Import rule: NumPy, Pillow, SciPy's `ndimage` (connected components), zlib-ng (inflating PNGs)
and the standard library only. Never TensorFlow, Keras, Flask, Socket.IO or eventlet: these
modules run in the server's preprocessing children, in the training data preparation and in
tests alike, and must stay light and pure (tests/unit/test_layout.py checks it).

- `imaging`: untrusted bytes to a Pillow image, within limits
- `pngdecode`: the faster route for plain PNGs (canvas exports)
- `preprocess`: a picture to ink, ink to the MNIST-style 28x28
- `strokes`: a drawing's strokes to the 28x28, with a pen scaled to the digit
- `filters`: the generic array filters they use
- `naive`: what the tutorials' plain resize makes of a picture (the teaching lens)
- `occlusion`, `lensimage`: the teaching lens's evidence maths and its pictures
- `errors`: `InputError`, the one error type for bad input
"""
