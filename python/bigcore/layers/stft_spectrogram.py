"""STFTSpectrogram: Keras's spectrogram layer with trainable DFT kernels (initializers.STFT). Its
call() is traced: frames (ops.extract_sequences) times the (frame_length, bins) kernels, so the
kernels train inside a model as Keras's conv kernels do."""

import math
import warnings

from bigcore import _signal_windows, config, initializers
from bigcore.layers import base
from bigcore.layers.base import Layer
from bigcore.layers.input_spec import InputSpec
from bigcore.layers.registry import register

_MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]


@register
class STFTSpectrogram(Layer):
    """Input (batch, time, channels) (channels_first: (batch, channels, time)); output
    (batch, frames, channels * bins) or, with expand_dims, (batch, frames, bins, channels)
    (channels_first: (batch, channels * bins, frames) / (batch, channels, frames, bins))."""

    _traces_own_call = True

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann", periodic=False,
                 scaling="density", padding="valid", expand_dims=False, data_format=None, **kwargs):
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError("`frame_step` should be a positive integer not greater than `frame_length`. Received "
                             f"frame_step={frame_step}, frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError("`fft_length` should be not less than `frame_length`. Received "
                             f"fft_length={fft_length}, frame_length={frame_length}")
        if fft_length is not None and (fft_length & -fft_length) != fft_length:
            warnings.warn(f"`fft_length` is recommended to be a power of two. Received fft_length={fft_length}")
        if mode not in _MODES:
            raise ValueError(f"Output mode is invalid, it must be one of {', '.join(_MODES)}. Received: mode={mode}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. Received scaling={scaling}")
        if padding not in ("valid", "same"):
            raise ValueError(f"Padding is invalid, it should be 'valid', 'same'. Received: padding={padding}")
        if isinstance(window, str):
            _signal_windows.check_name(window)
        data_format = data_format or config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                             f"Received: data_format={data_format!r}")
        super().__init__(**kwargs)
        self.mode, self.frame_length, self.frame_step, self.fft_length = mode, frame_length, frame_step, fft_length
        self._frame_step = frame_step or frame_length // 2
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window, self.periodic, self.scaling, self.padding = window, periodic, scaling, padding
        self.expand_dims, self.data_format = expand_dims, data_format
        self.input_spec = InputSpec(ndim=3)
        self.real_kernel = self.imag_kernel = None

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                "real_kernel", shape, initializers.STFT("real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                "imag_kernel", shape, initializers.STFT("imag", self.window, self.scaling, self.periodic))

    def _time_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def _pads(self, length):
        """Keras's 'same' padding of a strided conv: ceil(length / step) frames, the extra sample at the end."""
        if self.padding == "valid":
            return 0, 0
        if self._frame_step == 1:
            total = self.frame_length - 1
        else:
            out = -(-length // self._frame_step)
            total = max(0, (out - 1) * self._frame_step + self.frame_length - length)
        return total // 2, total - total // 2

    def _project(self, frames, kernel):
        ops = base._ops()
        return ops.matmul(frames, ops.reshape(kernel, (self.frame_length, self._fft_length // 2 + 1)))

    def call(self, inputs):
        ops = base._ops()
        length = inputs.shape[self._time_axis()]
        if length is None:
            raise ValueError(f"STFTSpectrogram {self.name!r} needs a known number of samples (axis "
                             f"{self._time_axis()}). Received input shape {tuple(inputs.shape)}")
        x = ops.transpose(inputs, (0, 2, 1)) if self.data_format == "channels_last" else inputs  # (B, C, T)
        left, right = self._pads(length)
        if left or right:
            x = ops.pad(x, [(0, 0), (0, 0), (left, right)])
        frames = ops.extract_sequences(x, self.frame_length, self._frame_step)  # (B, C, N, L)
        real = self._project(frames, self.real_kernel) if self.mode != "imag" else None  # (B, C, N, bins)
        imag = self._project(frames, self.imag_kernel) if self.mode != "real" else None
        if self.mode in ("real", "imag"):
            out = real if self.mode == "real" else imag
        elif self.mode == "angle":
            out = ops.arctan2(imag, real)
        elif self.mode == "stft":
            out = ops.concatenate([real, imag], axis=-1)
        else:
            power = ops.add(ops.square(real), ops.square(imag))
            if self.mode == "psd":  # the one-sided density: interior bins count twice
                out = ops.add(power, ops.pad(power[..., 1:-1], [(0, 0), (0, 0), (0, 0), (1, 1)]))
            else:
                eps = config.epsilon()
                out = ops.sqrt(ops.maximum(power, eps))
                if self.mode == "log":
                    out = ops.log(ops.maximum(out, eps))
        return self._arrange(out)

    def _arrange(self, out):
        """(B, C, N, F) -> Keras's output layout."""
        ops = base._ops()
        _, channels, frames, bins = out.shape
        if self.expand_dims:
            return ops.transpose(out, (0, 2, 3, 1)) if self.data_format == "channels_last" else out
        if self.data_format == "channels_last":
            return ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, frames, channels * bins))
        return ops.reshape(ops.transpose(out, (0, 1, 3, 2)), (-1, channels * bins, frames))

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        length = input_shape[self._time_axis()]
        bins = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        frames = None
        if length is not None:
            left, right = self._pads(length)
            frames = (length + left + right - self.frame_length) // self._frame_step + 1
        if self.expand_dims:
            if self.data_format == "channels_last":
                return (input_shape[0], frames, bins, channels)
            return (input_shape[0], channels, frames, bins)
        if self.data_format == "channels_last":
            return (input_shape[0], frames, None if channels is None else bins * channels)
        return (input_shape[0], None if channels is None else bins * channels, frames)

    def get_config(self):
        window = self.window.tolist() if hasattr(self.window, "tolist") else self.window
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}
