"""A Keras program as people write them, run with only its imports changed: Tokenizer and
pad_sequences from keras.preprocessing, confusion-count metrics, its own callback, ModelCheckpoint
to best.keras, load_model of the checkpoint, then quantize and ONNX export of the loaded model."""

import numpy as np
import pytest

import bigcore as keras  # the one changed line: `import keras`
from bigcore import layers
from bigcore.callbacks import Callback, EarlyStopping, ModelCheckpoint
from bigcore.preprocessing.sequence import pad_sequences
from bigcore.preprocessing.text import Tokenizer


class RecordBest(Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(round(float(logs["val_f1"]), 6))


def _corpus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    good = ["great", "fine", "loved", "excellent", "fun", "good"]
    bad = ["awful", "boring", "hated", "terrible", "dull", "bad"]
    filler = ["the", "movie", "was", "really", "quite", "a", "plot"]
    labels = rng.integers(0, 2, n)
    texts = [" ".join(rng.choice((good if y else bad), 2).tolist() + rng.choice(filler, 4).tolist())
             for y in labels]
    return texts, labels


def test_a_keras_script_runs_with_its_imports_changed(tmp_path, seed):
    pytest.importorskip("h5py")  # .keras files need the keras extra
    texts, labels = _corpus()
    tokenizer = Tokenizer(num_words=40, oov_token="<unk>")
    tokenizer.fit_on_texts(texts)
    x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=8, padding="post")
    y = labels.astype("float32")

    model = keras.Sequential([
        layers.Input(shape=(8,)),
        layers.Embedding(40, 8, mask_zero=True),
        layers.GRU(8),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy",
                  metrics=[keras.metrics.F1Score(average="micro", threshold=0.5, name="f1"),
                           keras.metrics.PrecisionAtRecall(0.8), keras.metrics.TruePositives(name="tp"),
                           "accuracy"])
    best = tmp_path / "best.keras"
    recorder = RecordBest()
    history = model.fit(x, y, validation_split=0.2, epochs=15, batch_size=32, verbose=0,
                        callbacks=[recorder, EarlyStopping(monitor="val_f1", mode="max", patience=4),
                                   ModelCheckpoint(str(best), monitor="val_f1", mode="max", save_best_only=True)])
    assert max(history.history["val_f1"]) > 0.9 and len(recorder.seen) == len(history.history["loss"])
    restored = keras.models.load_model(best)
    val = slice(int(len(x) * 0.8), None)
    f1 = restored.evaluate(x[val], y[val], verbose=0, return_dict=True)["f1"]
    assert round(f1, 6) == max(recorder.seen)

    q = keras.quantization.quantize(restored)
    np.testing.assert_allclose(q.predict(x[:20], verbose=0), restored.predict(x[:20], verbose=0), atol=0.05)
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    restored.export(tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    got = sess.run(None, {sess.get_inputs()[0].name: x[:20].astype(np.int64)})[0]
    np.testing.assert_allclose(got, restored.predict(x[:20], verbose=0), atol=1e-5)
