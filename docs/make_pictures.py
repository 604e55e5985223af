"""Draws the README's pictures: the seed models (plot_model) and a short real training run of each
(plot_history), with matplotlib only (no Graphviz), as after a plain `pip install "bigcore[plot]"`.

    python docs/make_pictures.py [--out docs]
"""

import argparse
import os

import bigcore
from bigcore import layers
from bigcore.examples import text_lstm, text_transformer
from bigcore.layers import base


def seed_mlp():
    model = bigcore.Sequential([layers.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                                layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = p.parse_args(argv)
    os.environ["PATH"] = ""  # no `dot`: the pictures come from bigcore's own matplotlib drawing
    out = lambda name: os.path.join(args.out, name)  # noqa: E731

    bigcore.utils.set_random_seed(1)
    (x, y), (x_test, y_test) = bigcore.datasets.fashion_mnist.load_data()
    x, x_test = x.reshape(-1, 784) / 255.0, x_test.reshape(-1, 784) / 255.0
    mlp = seed_mlp()
    bigcore.utils.plot_model(mlp, out("mlp_model.png"), show_shapes=True, show_layer_activations=True, dpi=90)
    history = mlp.fit(x, y, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
    bigcore.utils.plot_history(history, out("mlp_history.png"))
    print("MLP test accuracy:", mlp.evaluate(x_test, y_test, verbose=0)[1])

    base._name_counts.clear()  # default layer names start again from "dense", as in a fresh session
    bigcore.utils.set_random_seed(1)
    x, y = text_lstm.make_reviews(5000, seed=1)
    lstm = text_lstm.build_model()
    bigcore.utils.plot_model(lstm, out("text_lstm_model.png"), show_shapes=True, show_layer_activations=True,
                             dpi=90)
    history = lstm.fit(x, y, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
    bigcore.utils.plot_history(history, out("text_lstm_history.png"))

    draw_text_transformer(out("text_transformer_model.png"))


def draw_text_transformer(path):
    """The text Transformer example's graph: its two custom layers (token + position embedding, the
    Transformer block) are one box each, as Keras draws them without expand_nested."""
    base._name_counts.clear()
    bigcore.utils.plot_model(text_transformer.build_transformer(), path, show_shapes=True,
                             show_layer_activations=True, dpi=80)


if __name__ == "__main__":
    main()
