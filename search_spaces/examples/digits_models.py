"""A user's own Keras model for the digits-as-images example (digits_builder.yaml).

The contract: ``build_model(hp, data)`` gets the trial's hyperparameters as a dict (every name
under ``params`` and ``model`` in the spec, plus the training ones the sweep owns, such as
``learning_rate`` and ``optimizer``) and what the data says (``data.input_shape``,
``data.n_classes``, ``data.task``), and returns a Keras model. Left uncompiled, as here, the sweep
compiles it with the spec's optimizer, learning rate, loss and metrics.
"""

import keras


def build_model(hp, data):
    inputs = keras.Input(shape=data.input_shape)
    x = inputs
    for i in range(hp["blocks"]):
        x = keras.layers.Conv2D(hp["filters"] * 2**i, hp["kernel_size"], padding="same", activation="relu")(x)
        if hp["batch_norm"]:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(hp["dropout"])(x)
    outputs = keras.layers.Dense(data.n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
