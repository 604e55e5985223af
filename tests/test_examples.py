"""The runnable examples reach the accuracy their issues promise (skipped without the data)."""

import os

import pytest

FASHION = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION) and not os.environ.get("BIGCORE_DATA"),
                                   reason="needs Fashion-MNIST: apt-get install dataset-fashion-mnist")


def int8_accuracy(out):
    """The quantized model's accuracy from an example's output line 'int8 test accuracy: 0.8750 ...'."""
    return float(out.split("int8 test accuracy: ")[1].split()[0])


@needs_fashion
def test_mnist_mlp_reaches_the_seed_accuracy(capsys):
    from bigcore.examples import mnist_mlp

    accuracy = mnist_mlp.main(["--verbose", "0"])
    assert accuracy >= 0.86
    out = capsys.readouterr().out
    assert "Test accuracy:" in out
    assert int8_accuracy(out) >= accuracy - 0.005  # issue 5: int8 loses at most 0.5 points


@needs_fashion
def test_fashion_mnist_lstm_learns(capsys):
    from bigcore.examples import fashion_mnist_lstm

    # a shortened run for CI; the full recipe (3 epochs, 60000 images) is in the closing note
    accuracy = fashion_mnist_lstm.main(["--epochs", "1", "--train-samples", "12000", "--verbose", "0"])
    assert accuracy >= 0.72
    assert int8_accuracy(capsys.readouterr().out) >= accuracy - 0.01  # issue 5: at most 1 point


def test_text_lstm_beats_the_majority_baseline(capsys):
    from bigcore.examples import text_lstm

    accuracy = text_lstm.main(["--epochs", "2", "--samples", "1200", "--verbose", "0"])
    out = capsys.readouterr().out
    majority = float(out.split("majority label: ")[1].split(")")[0])
    assert accuracy > majority + 0.02


def test_custom_layers_example_learns_and_round_trips(capsys, tmp_path):
    from bigcore.examples import custom_layers

    path = str(tmp_path / "text.bigcore")
    accuracy = custom_layers.main(["--epochs", "4", "--samples", "1200", "--verbose", "0", "--save", path])
    out = capsys.readouterr().out
    majority = float(out.split("majority label: ")[1].split(")")[0])
    assert accuracy > majority + 0.05
    assert "reloaded predictions identical: True" in out


def test_text_transformer_custom_layers_beat_the_majority_label(capsys):
    from bigcore.examples import text_transformer

    accuracy = text_transformer.main(["--epochs", "3", "--samples", "2000", "--no-lstm", "--verbose", "0"])
    out = capsys.readouterr().out
    majority = float(out.split("majority     test accuracy ")[1].split()[0])
    assert accuracy > majority + 0.03
    model = text_transformer.build_transformer()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "TokenAndPositionEmbedding" in kinds and "TransformerBlock" in kinds  # custom layers, one input
    assert len(model.inputs) == 1


@pytest.mark.skipif(not os.path.isdir("/usr/share/common-licenses"), reason="needs Debian's base-files texts")
def test_char_gpt_custom_blocks_learn_and_generate(capsys):
    from bigcore.examples import char_gpt

    bits = char_gpt.main(["--steps", "150", "--d-model", "64", "--sample-chars", "40", "--verbose", "0"])
    out = capsys.readouterr().out
    unigram = float(out.split("character frequencies alone: ")[1].split(")")[0])
    assert bits < unigram - 0.5  # beyond character frequencies (150 steps; 600 reach about 2.7)
    sample = out.split("with the key/value cache):\n")[1]
    assert sample.startswith("This License ") and len(sample) >= len("This License ") + 40
