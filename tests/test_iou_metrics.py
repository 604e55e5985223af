"""Keras 3's IoU metrics (IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU): a confusion matrix
summed over batches. Eagerly against Keras 3 (torch backend) over two update_state calls; in
compile, traced once and summed natively per batch, against the eager metric on the model's
predictions; their config round trip and refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 3, (8, 5, 5)).astype(np.float32)
Y[0, 0, :3] = [-1, 3, 7]  # out of range: counted nowhere
P = RNG.random((8, 5, 5, 3)).astype(np.float32)
HOT = np.eye(3, dtype=np.float32)[np.clip(Y, 0, 2).astype(int)]
SW_SAMPLE = RNG.integers(0, 3, (8,)).astype(np.float32)
SW_LABEL = (RNG.random((8, 5, 5)) * 2.5).astype(np.float32)  # truncated to integers by the default dtype

CASES = {
    "mean dense preds": ("MeanIoU", dict(num_classes=3, sparse_y_pred=False), (Y, P, None)),
    "mean sparse preds": ("MeanIoU", dict(num_classes=3), (Y, P.argmax(-1).astype(np.float32) + 0.7, None)),
    "iou targets": ("IoU", dict(num_classes=3, target_class_ids=[0, 2], sparse_y_pred=False), (Y, P, None)),
    "ignore class": ("MeanIoU", dict(num_classes=3, sparse_y_pred=False, ignore_class=1), (Y, P, None)),
    "sample weights": ("MeanIoU", dict(num_classes=3, sparse_y_pred=False), (Y, P, SW_LABEL)),
    "per-sample weights": ("MeanIoU", dict(num_classes=3, sparse_y_pred=False), (Y[:, 1, 1], P[:, 1, 1], SW_SAMPLE)),
    "float dtype weights": ("MeanIoU", dict(num_classes=3, sparse_y_pred=False, dtype="float32"), (Y, P, SW_LABEL)),
    "binary": ("BinaryIoU", dict(threshold=0.4), ((Y[..., None] > 1).astype(np.float32), P[..., :1], None)),
    "binary class 1": ("BinaryIoU", dict(target_class_ids=[1]), ((Y[..., None] > 0).astype(np.float32), P[..., :1],
                                                                  None)),
    "one-hot mean": ("OneHotMeanIoU", dict(num_classes=3), (HOT, P, None)),
    "one-hot targets": ("OneHotIoU", dict(num_classes=3, target_class_ids=[1]), (HOT, P, None)),
}


def _feed(metric, y, p, sw):
    for rows in (slice(0, 5), slice(5, 8)):
        metric.update_state(y[rows], p[rows], None if sw is None else sw[rows])
    return float(np.asarray(metric.result()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_eager_matches_keras(keras, case):
    name, kw, (y, p, sw) = CASES[case]
    if sw is not None and kw.get("dtype") != "float32":  # Keras truncates them, and says so
        with pytest.warns(UserWarning, match="weight as `float`"):
            ours = _feed(getattr(bigcore.metrics, name)(**kw), y, p, sw)
        with pytest.warns(UserWarning, match="weight as `float`"):
            theirs = _feed(getattr(keras.metrics, name)(**kw), y, p, sw)
    else:
        ours = _feed(getattr(bigcore.metrics, name)(**kw), y, p, sw)
        theirs = _feed(getattr(keras.metrics, name)(**kw), y, p, sw)
    assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-7)
    assert 0.0 < ours < 1.0


def test_result_counts_what_the_confusion_matrix_says():
    """Two classes, labels [0, 0, 1, 1], predictions [0, 1, 1, 1]: IoU 1/2 and 2/3."""
    m = bigcore.metrics.MeanIoU(num_classes=2)
    m.update_state(np.array([0, 0, 1, 1.0]), np.array([0, 1, 1, 1.0]))
    np.testing.assert_array_equal(m.total_cm.numpy(), [[1, 1], [0, 2]])
    assert float(m.result()) == pytest.approx((1 / 2 + 2 / 3) / 2, rel=1e-6)
    m.reset_state()
    assert float(m.result()) == 0.0


def _segmenter():
    bigcore.utils.set_random_seed(1)
    inp = bigcore.Input((5, 5, 2))
    return bigcore.Model(inp, layers.Dense(3, activation="softmax")(layers.Dense(8, activation="relu")(inp)))


def test_compiled_metrics_match_the_eager_ones_on_the_predictions():
    rng = np.random.default_rng(3)
    x, y = rng.random((40, 5, 5, 2)).astype(np.float32), rng.integers(0, 3, (40, 5, 5)).astype(np.float32)
    model = _segmenter()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=[bigcore.metrics.MeanIoU(3, sparse_y_pred=False),
                           bigcore.metrics.IoU(3, [1], sparse_y_pred=False, name="iou_1")])
    hist = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert set(hist.history) == {"loss", "mean_io_u", "iou_1"}
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)  # three batches, one short
    pred = model.predict(x, verbose=0)
    for key, metric in (("mean_io_u", bigcore.metrics.MeanIoU(3, sparse_y_pred=False)),
                        ("iou_1", bigcore.metrics.IoU(3, [1], sparse_y_pred=False))):
        metric.update_state(y, pred)
        assert logs[key] == pytest.approx(float(metric.result()), rel=1e-6)
    # Keras's metrics= are unweighted: sample weights change the loss, not the IoU
    weighted = model.evaluate(x, y, sample_weight=rng.integers(0, 3, 40).astype(np.float32), batch_size=16,
                              verbose=0, return_dict=True)
    assert weighted["mean_io_u"] == logs["mean_io_u"]


def test_weighted_metrics_refuse_what_they_cannot_weigh():
    model = _segmenter()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  weighted_metrics=[bigcore.metrics.MeanIoU(3, sparse_y_pred=False)])
    x, y = np.zeros((4, 5, 5, 2), np.float32), np.zeros((4, 5, 5), np.float32)
    with pytest.raises(ValueError, match="weighted_metrics"):
        model.evaluate(x, y, sample_weight=np.ones(4, np.float32), verbose=0)


@pytest.mark.parametrize("cls,kw", [("IoU", dict(num_classes=4, target_class_ids=[1, 3], ignore_class=0)),
                                    ("MeanIoU", dict(num_classes=5, sparse_y_pred=False)),
                                    ("BinaryIoU", dict(target_class_ids=[0], threshold=0.3)),
                                    ("OneHotIoU", dict(num_classes=3, target_class_ids=[2])),
                                    ("OneHotMeanIoU", dict(num_classes=3, axis=-1))])
def test_config_round_trip(cls, kw):
    m = getattr(bigcore.metrics, cls)(**kw)
    again = getattr(bigcore.metrics, cls)(**m.get_config())
    assert again.get_config() == m.get_config()


@pytest.mark.parametrize("make,match", [
    (lambda: bigcore.metrics.MeanIoU(num_classes=0), "num_classes"),
    (lambda: bigcore.metrics.IoU(num_classes=3, target_class_ids=[3]), "out of range"),
    (lambda: bigcore.metrics.IoU(num_classes=3, target_class_ids=[]), "target_class_ids"),
    (lambda: bigcore.metrics.MeanIoU(num_classes=3, ignore_class=0.5), "ignore_class"),
    (lambda: bigcore.metrics.MeanIoU(num_classes=3, dtype="float16"), "dtype"),
])
def test_refuses_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="labels per sample"):
        bigcore.metrics.MeanIoU(3).update_state(np.zeros((2, 4)), np.zeros((2, 5)))
