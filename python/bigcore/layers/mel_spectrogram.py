"""MelSpectrogram: Keras's log-mel spectrogram of 1-D signals, traced from ops.stft (matmuls against
constant DFT matrices), a constant mel filterbank matmul and the decibel scale, so it runs inside
a model's program as well as eagerly on arrays."""

import numpy as np

from bigcore.layers import base
from bigcore.layers.base import KerasTensor, Layer
from bigcore.layers.registry import register

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _hertz_to_mel(hz):
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + hz / _MEL_BREAK_FREQUENCY_HERTZ)


@register
class MelSpectrogram(Layer):
    """Input (batch, samples) or (samples,); output (batch, num_mel_bins, frames), frames =
    1 + samples // sequence_stride (the stft is centered, reflection padded)."""

    _traces_own_call = True

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann", sampling_rate=16000,
                 num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0,
                 min_power=1e-10, ref_power=1.0, **kwargs):
        sequence_length = sequence_length or fft_length
        if fft_length < sequence_length:
            raise ValueError("`fft_length` must be greater than or equal to  `sequence_length`. Received: "
                             f"`sequence_length`={sequence_length}, `fft_length`={fft_length}.")
        if window is not None and (not isinstance(window, str) or window not in ("hann", "hamming")):
            raise ValueError('If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                             f"Received: window={window!r}")
        super().__init__(**kwargs)
        self.fft_length, self.sequence_stride, self.sequence_length = fft_length, sequence_stride, sequence_length
        self.window, self.sampling_rate, self.num_mel_bins = window, sampling_rate, num_mel_bins
        self.min_freq, self.max_freq = min_freq, max_freq or int(sampling_rate / 2)
        self.power_to_db, self.top_db, self.mag_exp = power_to_db, top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, KerasTensor) and np.ndim(inputs) == 1 and base.active_trace() is None:
            return self(np.asarray(inputs)[None], *args, **kwargs)[0]  # Keras takes one unbatched signal too
        return super().__call__(inputs, *args, **kwargs)

    def linear_to_mel_weight_matrix(self, num_mel_bins=20, num_spectrogram_bins=129, sampling_rate=8000,
                                    lower_edge_hertz=125.0, upper_edge_hertz=3800.0, dtype="float32"):
        """Keras's (TensorFlow's) triangular mel filterbank: (num_spectrogram_bins, num_mel_bins), the DC
        bin zero."""
        linear = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins)[1:]
        bins_mel = _hertz_to_mel(linear)[:, None]
        edges = np.linspace(_hertz_to_mel(float(lower_edge_hertz)), _hertz_to_mel(float(upper_edge_hertz)),
                            num_mel_bins + 2)
        lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
        weights = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) / (upper - center)))
        return np.pad(weights, [(1, 0), (0, 0)]).astype(dtype)

    def call(self, inputs):
        ops = base._ops()
        real, imag = ops.stft(inputs, self.sequence_length, self.sequence_stride, self.fft_length,
                              window=self.window, center=True)
        spec = ops.power(ops.sqrt(ops.add(ops.square(real), ops.square(imag))), self.mag_exp)
        mel = ops.matmul(spec, self.linear_to_mel_weight_matrix(self.num_mel_bins, self.fft_length // 2 + 1,
                                                                self.sampling_rate, self.min_freq, self.max_freq))
        if self.power_to_db:
            ref_db = 10.0 * np.log10(max(abs(float(self.ref_power)), self.min_power))
            db = ops.subtract(ops.multiply(ops.log10(ops.maximum(mel, self.min_power)), 10.0), ref_db)
            # Keras clips at top_db below the maximum over the whole call (every signal of the batch)
            mel = ops.maximum(db, ops.subtract(ops.max(db), self.top_db))
        return ops.swapaxes(mel, -1, -2)

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else 1 + samples // self.sequence_stride
        return tuple(input_shape[:-1]) + (self.num_mel_bins, frames)

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window, "sampling_rate": self.sampling_rate,
                "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}
