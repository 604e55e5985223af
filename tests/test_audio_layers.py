"""layers.STFTSpectrogram (trainable DFT kernels from initializers.STFT) and layers.MelSpectrogram
(traced ops.stft, mel filterbank, decibels): every mode and layout against Keras 3 and NumPy's rfft,
inside models (predict, fit with Adam against Keras, save round trips), refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import initializers, layers
from bigcore._signal_windows import get_window
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(7)
SIG = RNG.normal(size=(2, 40, 3)).astype(np.float32)
MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]
CONFIGS = [{"frame_length": 8},
           {"frame_length": 10, "frame_step": 3, "fft_length": 16, "padding": "same", "expand_dims": True,
            "periodic": True, "scaling": "spectrum"},
           {"frame_length": 6, "frame_step": 6, "window": "hamming", "scaling": None, "data_format": "channels_first"},
           {"frame_length": 8, "window": "blackman", "expand_dims": True, "data_format": "channels_first"}]


def _keras_kw(kw):
    """Keras's STFT initializer asks scipy for named windows: give it the same window as values."""
    out = dict(kw)
    out["window"] = get_window(kw.get("window", "hann"), kw["frame_length"], kw.get("periodic", False)).astype(np.float32)
    return out


def _input(kw):
    return SIG if kw.get("data_format", "channels_last") == "channels_last" else np.ascontiguousarray(SIG.transpose(0, 2, 1))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_stft_spectrogram_matches_keras(keras, mode, cfg):
    kw = CONFIGS[cfg]
    ours, theirs = layers.STFTSpectrogram(mode=mode, **kw), keras.layers.STFTSpectrogram(mode=mode, **_keras_kw(kw))
    x = _input(kw)
    got, want = ours(x), np.asarray(theirs(x).detach())
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)
    assert got.shape == want.shape == tuple(theirs.compute_output_shape(x.shape)) == ours.compute_output_shape(x.shape)
    tol = 2e-4
    if mode == "angle":  # the branch cut (+-pi) compared on the circle; the DC / Nyquist bins' imaginary part is
        got, want, tol = np.exp(1j * got), np.exp(1j * want), 2e-3  # rounding noise, their angle ill-conditioned
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=tol)


def test_stft_spectrogram_matches_numpy_rfft():
    frame, step, fft = 8, 4, 16
    x = SIG[:, :, :1]
    got = layers.STFTSpectrogram(mode="stft", frame_length=frame, frame_step=step, fft_length=fft, scaling=None)(x)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / (frame - 1))  # the symmetric Hann
    frames = np.stack([x[:, i:i + frame, 0] for i in range(0, 40 - frame + 1, step)], axis=1)
    z = np.fft.rfft(frames * win, n=fft, axis=-1)
    np.testing.assert_allclose(got, np.concatenate([z.real, z.imag], axis=-1), rtol=1e-4, atol=1e-4)
    mag = layers.STFTSpectrogram(mode="magnitude", frame_length=frame, frame_step=step, fft_length=fft, scaling=None)(x)
    np.testing.assert_allclose(mag, np.abs(z), rtol=1e-4, atol=1e-3)


def test_stft_initializer_matches_keras(keras):
    for side in ("real", "imag"):
        for scaling in ("density", "spectrum", None):
            win = get_window("hann", 12, True)
            ours = initializers.STFT(side, "hann", scaling, True)((12, 1, 9))  # Keras rounds its angles in float32
            theirs = keras.initializers.STFT(side, win.astype(np.float32), scaling, True)((12, 1, 9))
            np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)
    assert initializers.get("stft").get_config() == {"side": "real", "window": "hann", "periodic": False,
                                                     "scaling": "density"}  # Keras's defaults (its get needs scipy)


def _stft_model(mod, window):
    inp = mod.Input((32, 2))
    h = mod.layers.STFTSpectrogram(mode="magnitude", frame_length=8, frame_step=4, window=window, name="spec")(inp)
    return mod.Model(inp, mod.layers.Dense(1)(mod.layers.Flatten()(h)))


def test_stft_spectrogram_trains_like_keras(keras, tmp_path):
    x = RNG.normal(size=(8, 32, 2)).astype(np.float32)
    y = RNG.normal(size=(8, 1)).astype(np.float32)
    ours, theirs = _stft_model(bigcore, "hann"), _stft_model(keras, get_window("hann", 8).astype(np.float32))
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    ours.compile(bigcore.optimizers.Adam(0.01), "mse")
    theirs.compile(keras.optimizers.Adam(0.01), "mse")
    kernel0 = ours.get_layer("spec").get_weights()[0].copy()
    for _ in range(3):
        assert ours.train_on_batch(x, y) == pytest.approx(float(theirs.train_on_batch(x, y)), rel=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
    assert not np.allclose(kernel0, ours.get_layer("spec").get_weights()[0])  # the DFT kernels train
    want = ours.predict(x, verbose=0)
    for name in ("m.keras", "m.bigcore"):
        ours.save(tmp_path / name)
        np.testing.assert_allclose(bigcore.models.load_model(tmp_path / name).predict(x, verbose=0), want, rtol=1e-6)
    cfg = ours.get_layer("spec").get_config()
    theirs_cfg = theirs.get_layer("spec").get_config()
    keys = ("mode", "frame_length", "frame_step", "fft_length", "periodic", "scaling", "padding", "data_format",
            "expand_dims")
    assert {k: cfg[k] for k in keys} == {k: theirs_cfg[k] for k in keys} and cfg["window"] == "hann"


MEL = [{"fft_length": 64, "sequence_stride": 16, "num_mel_bins": 10, "sampling_rate": 8000},
       {"fft_length": 64, "sequence_stride": 20, "sequence_length": 48, "window": "hamming", "num_mel_bins": 12,
        "sampling_rate": 8000, "power_to_db": False, "mag_exp": 1.0, "min_freq": 100.0, "max_freq": 3000},
       {"fft_length": 32, "sequence_stride": 8, "num_mel_bins": 6, "sampling_rate": 4000, "top_db": 20.0,
        "ref_power": 3.0, "window": None}]
AUDIO = RNG.normal(size=(3, 400)).astype(np.float32)


@pytest.mark.parametrize("cfg", range(len(MEL)))
def test_mel_spectrogram_matches_keras_eager_and_in_a_model(keras, cfg, tmp_path):
    kw = MEL[cfg]
    ours, theirs = layers.MelSpectrogram(**kw), keras.layers.MelSpectrogram(**kw)
    want = np.asarray(theirs(AUDIO))
    got = ours(AUDIO)
    assert got.shape == want.shape == ours.compute_output_shape(AUDIO.shape)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got / scale, want / scale, atol=1e-5)
    np.testing.assert_allclose(ours(AUDIO[1]) / scale, np.asarray(theirs(AUDIO[1])) / scale, atol=1e-5)
    inp = bigcore.Input((400,))
    model = bigcore.Model(inp, layers.Dense(2)(layers.MelSpectrogram(**kw)(inp)))
    model.compile("adam", "mse")
    model.fit(AUDIO, np.zeros((3, kw["num_mel_bins"], 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    back = bigcore.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(back.predict(AUDIO, verbose=0), model.predict(AUDIO, verbose=0), rtol=1e-5, atol=1e-5)
    keys = ("fft_length", "sequence_stride", "sequence_length", "window", "sampling_rate", "num_mel_bins", "min_freq",
            "max_freq", "power_to_db", "top_db", "mag_exp", "min_power", "ref_power")
    assert {k: ours.get_config()[k] for k in keys} == {k: theirs.get_config()[k] for k in keys}


def test_mel_filterbank_and_decibels_match_numpy():
    layer = layers.MelSpectrogram(fft_length=32, sequence_stride=8, num_mel_bins=5, sampling_rate=4000, top_db=30.0)
    m = layer.linear_to_mel_weight_matrix(5, 17, 4000, 20.0, 2000)
    assert m.shape == (17, 5) and np.all(m[0] == 0) and np.all(m >= 0) and m.max() <= 1.0 + 1e-6
    x = AUDIO[:1, :128]
    padded = np.pad(x[0].astype(np.float64), 16, mode="reflect")  # centered frames, torch's reflection
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(32) / 32)  # periodic, as torch's
    z = np.fft.rfft(np.stack([padded[i:i + 32] * hann for i in range(0, 129, 8)]), axis=-1)
    power = np.abs(z) ** 2 @ m
    db = 10 * np.log10(np.maximum(power, 1e-10))
    want = np.maximum(db, db.max() - 30.0).T[None]
    np.testing.assert_allclose(layer(x), want, rtol=1e-3, atol=1e-3)


def test_refusals():
    with pytest.raises(ValueError, match="Unknown window"):
        layers.STFTSpectrogram(window="tukey")
    with pytest.raises(ValueError, match="Output mode is invalid"):
        layers.STFTSpectrogram(mode="phase")
    with pytest.raises(ValueError, match="frame_step"):
        layers.STFTSpectrogram(frame_length=8, frame_step=9)
    with pytest.raises(ValueError, match="known number of samples"):
        layers.STFTSpectrogram(frame_length=8)(bigcore.Input((None, 1)))
    with pytest.raises(ValueError, match="window"):
        layers.MelSpectrogram(window="blackman")
    with pytest.raises(ValueError, match="fft_length"):
        layers.MelSpectrogram(fft_length=32, sequence_length=64)
