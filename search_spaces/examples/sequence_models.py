"""A user's recurrent model for sequence.yaml: a GRU over ``(steps, channels)`` sequences.

Compiled here, with the user's own loss and metric: the sweep keeps them and still sets the
learning rate of each trial (its schedule, PBT and the babysitter change it).
"""

import keras


def build_model(hp, data):
    model = keras.Sequential([keras.Input(shape=data.input_shape)])
    for i in range(hp["rnn_layers"]):
        last = i == hp["rnn_layers"] - 1
        model.add(keras.layers.GRU(hp["rnn_units"], return_sequences=not last))
    model.add(keras.layers.Dropout(hp["dropout"]))
    model.add(keras.layers.Dense(data.n_classes, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
