"""The runnable examples reach the accuracy their issues promise (skipped without the data)."""

import os

import pytest

FASHION = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION) and not os.environ.get("BIGCORE_DATA"),
                                   reason="needs Fashion-MNIST: apt-get install dataset-fashion-mnist")


@needs_fashion
def test_mnist_mlp_reaches_the_seed_accuracy(capsys):
    from bigcore.examples import mnist_mlp

    accuracy = mnist_mlp.main(["--verbose", "0"])
    assert accuracy >= 0.86
    assert "Test accuracy:" in capsys.readouterr().out


@needs_fashion
def test_fashion_mnist_lstm_learns(capsys):
    from bigcore.examples import fashion_mnist_lstm

    # a shortened run for CI; the full recipe (3 epochs, 60000 images) is in the closing note
    accuracy = fashion_mnist_lstm.main(["--epochs", "1", "--train-samples", "12000", "--verbose", "0"])
    assert accuracy >= 0.72


def test_text_lstm_beats_the_majority_baseline(capsys):
    from bigcore.examples import text_lstm

    accuracy = text_lstm.main(["--epochs", "2", "--samples", "1200", "--verbose", "0"])
    out = capsys.readouterr().out
    majority = float(out.split("majority label: ")[1].split(")")[0])
    assert accuracy > majority + 0.02
