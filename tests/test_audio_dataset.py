"""utils.audio_dataset_from_directory: PCM WAV files (stdlib `wave`) read as tf.audio.decode_wav
reads them, Keras's file index and labels, padded batches / output_sequence_length, sampling-rate
checks, refusals, and a model trained on the Dataset."""

import wave

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(5)


def _write(path, samples, rate=8000, width=2):
    """samples: (n, channels) integers in the sample width's signed range."""
    samples = np.asarray(samples)
    if width == 1:
        raw = (samples + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = samples.astype(np.int64) & 0xFFFFFF
        raw = np.stack([v & 0xFF, (v >> 8) & 0xFF, v >> 16], -1).astype(np.uint8).tobytes()
    else:
        raw = samples.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


@pytest.fixture
def wav_dir(tmp_path):
    root = tmp_path / "speech"
    clips = {}
    for cls, n in (("no", 4), ("yes", 3)):
        (root / cls / "deeper").mkdir(parents=True)
        for i in range(n):
            data = RNG.integers(-32768, 32767, size=(50 + 10 * i, 1))
            _write(root / cls / f"{i}.wav", data)
            clips[str(root / cls / f"{i}.wav")] = data / 32768.0
        data = RNG.integers(-32768, 32767, size=(30, 1))
        _write(root / cls / "deeper" / "z.WAV", data)
        clips[str(root / cls / "deeper" / "z.WAV")] = data / 32768.0
        (root / cls / "notes.txt").write_text("not audio")
    return root, clips


def test_matches_keras_index_and_decodes_samples(keras, wav_dir, capsys):
    from keras.src.utils import dataset_utils
    root, clips = wav_dir
    paths, labels, names = dataset_utils.index_directory(str(root), "inferred", formats=(".wav",), shuffle=True, seed=3)
    ds = bigcore.utils.audio_dataset_from_directory(root, batch_size=3, seed=3)
    assert ds.class_names == names == ["no", "yes"] and ds.file_paths == paths
    assert "Found 9 files belonging to 2 classes." in capsys.readouterr().out
    batches = list(ds)
    assert len(batches) == len(ds) == 3
    ys = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(ys, labels)
    row = 0
    for x, _ in batches:  # padded_batch: each batch as long as its longest clip, zeros after each clip
        assert x.dtype == np.float32 and x.ndim == 3 and x.shape[2] == 1
        assert x.shape[1] == max(len(clips[p]) for p in paths[row:row + len(x)])
        for clip, p in zip(x, paths[row:row + len(x)]):
            want = clips[p]
            np.testing.assert_allclose(clip[:len(want)], want, atol=1e-7)
            assert not clip[len(want):].any()
        row += len(x)


def test_output_sequence_length_modes_and_split(wav_dir):
    root, clips = wav_dir
    ds = bigcore.utils.audio_dataset_from_directory(root, output_sequence_length=60, label_mode="categorical",
                                                    batch_size=None, shuffle=False, verbose=False)
    for (x, y), p in zip(ds, ds.file_paths):
        want = clips[p][:60]
        assert x.shape == (60, 1) and y.shape == (2,) and y.sum() == 1
        np.testing.assert_allclose(x[:len(want)], want, atol=1e-7)
        assert not x[len(want):].any()
    x, y = next(iter(bigcore.utils.audio_dataset_from_directory(root, label_mode="binary", batch_size=20,
                                                                 output_sequence_length=40, verbose=False)))
    assert x.shape == (9, 40, 1) and y.shape == (9, 1) and y.dtype == np.float32
    audio_only = next(iter(bigcore.utils.audio_dataset_from_directory(root, labels=None, batch_size=20, verbose=False)))
    assert isinstance(audio_only, np.ndarray) and audio_only.shape == (9, 80, 1)  # the longest clip
    train, val = bigcore.utils.audio_dataset_from_directory(root, validation_split=0.34, subset="both", seed=1,
                                                            verbose=False)
    assert len(train.file_paths) == 6 and len(val.file_paths) == 3
    assert not set(train.file_paths) & set(val.file_paths)
    ok = bigcore.utils.audio_dataset_from_directory(root, sampling_rate=8000, verbose=False)
    assert len(ok.file_paths) == 9


@pytest.mark.parametrize("width,scale", [(1, 128.0), (2, 32768.0), (3, 2.0 ** 23), (4, 2.0 ** 31)])
def test_sample_widths_and_channels(tmp_path, width, scale):
    hi = int(scale)
    data = RNG.integers(-hi, hi, size=(25, 2))
    (tmp_path / "a").mkdir()
    _write(tmp_path / "a" / "s.wav", data, width=width)
    x, y = next(iter(bigcore.utils.audio_dataset_from_directory(tmp_path, verbose=False)))
    assert x.shape == (1, 25, 2) and y.tolist() == [0]
    np.testing.assert_allclose(x[0], data / scale, atol=1e-6)


def test_a_model_trains_on_it(wav_dir):
    root, _ = wav_dir
    ds = bigcore.utils.audio_dataset_from_directory(root, output_sequence_length=64, batch_size=4, seed=0, verbose=False)
    inp = bigcore.Input((64, 1))
    h = layers.STFTSpectrogram(mode="log", frame_length=16, frame_step=8)(inp)
    model = bigcore.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling1D()(h)))
    model.compile("adam", bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert model.predict(ds, verbose=0).shape == (9, 2)


def test_refusals(wav_dir, tmp_path):
    root, _ = wav_dir
    read = bigcore.utils.audio_dataset_from_directory
    with pytest.raises(ValueError, match="Cannot set both `ragged` and `output_sequence_length`"):
        read(root, ragged=True, output_sequence_length=10)
    with pytest.raises(NotImplementedError, match="ragged"):
        read(root, ragged=True)
    with pytest.raises(ValueError, match="integer value"):
        read(root, sampling_rate=8000.0)
    with pytest.raises(ValueError, match="higher than 0"):
        read(root, sampling_rate=0)
    with pytest.raises(NotImplementedError, match="does not resample"):
        read(root, sampling_rate=16000, verbose=False)
    with pytest.raises(ValueError, match="label_mode"):
        read(root, label_mode="sparse")
    with pytest.raises(ValueError, match="exactly 2"):
        (tmp_path / "c" / "x").mkdir(parents=True)
        read(tmp_path / "c", label_mode="binary", verbose=False)
    (tmp_path / "bad" / "k").mkdir(parents=True)
    (tmp_path / "bad" / "k" / "f.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(ValueError, match="PCM WAV"):
        next(iter(read(tmp_path / "bad", verbose=False)))
