"""ConvLSTM1D / ConvLSTM2D / ConvLSTM3D: Keras's RNN over its ConvLSTMCell, channels last.

Weights as Keras's cell holds them: kernel (*kernel_size, input_channels, 4 * filters), recurrent_kernel
(*kernel_size, filters, 4 * filters), bias (4 * filters,), the gates in the order i, f, c, o. Per step:
z = conv(x_t, kernel, strides, padding, dilation) + bias + conv(h, recurrent_kernel, stride 1, "same"),
i, f, o = recurrent_activation of their quarters, c = f * c + i * activation(z_c), h = o * activation(c).

call() is traced (a custom layer's path, layers/tracing.py). A sequence length known when the model is
built unrolls the steps as RNN over a cell of one's own does (layers/rnn_unroll.py): each step is a pair
of keras.ops.conv (bigcore/ops/conv.py) on the native convolution. A run-time length
(Input((None, *spatial, C))) runs the same step, traced once, in the native scan (layers/rnn_scan.py),
T times per call; there dropout and recurrent_dropout are refused (the scan draws anew at every step,
Keras one mask for the sequence). Dropout: Keras's DropoutRNNCell draws one mask per gate for the
sequence, applied in training only (ops.dropout on ones).
"""

import numpy as np

from bigcore import activations, constraints, initializers, regularizers
from bigcore.layers import base, rnn_scan
from bigcore.layers.base import KerasTensor, Layer, shape_str
from bigcore.layers.convolutional import (output_length, standardize_data_format, standardize_padding,
                                          standardize_tuple)
from bigcore.layers.registry import register


def _forget_bias_initializer(init, filters):
    """Keras's unit_forget_bias: the forget gate's quarter of the bias starts at ones."""
    def initialize(shape, dtype=None):
        parts = [init((filters,)), np.ones((filters,)), init((2 * filters,))]
        return np.concatenate([np.asarray(p, np.float32) for p in parts])
    return initialize


def _function(act):
    """A layer's activation (activations.get's answer) as a function on tensors."""
    return activations.get_function(act) if isinstance(act, str) else act


class _ConvLSTMStep(Layer):
    """One step of a ConvLSTM layer on its weights (its `_step`): the cell the native scan traces for a
    run-time sequence length. States: h and c, feature maps of `state_shape` (per sample)."""

    def __init__(self, owner, state_shape):
        super().__init__(name=f"{owner.name}_step")
        self._owner = (owner,)  # a tuple: not tracked as a sub-layer (the weights are the owner's)
        n = int(np.prod(state_shape))
        self.state_size = [n, n]
        self.output_size = n

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, states):
        h, c = self._owner[0]._step(base._ops(), inputs, states[0], states[1])
        return h, [h, c]


class _ConvLSTM(Layer):
    rank = None
    call_keywords = ("initial_state", "mask", "training")
    zero_output_for_mask = False  # Keras's RNN default: a masked step repeats the previous output

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, **kw):
        super().__init__(**kw)
        if stateful:
            raise ValueError(f"{type(self).__name__}: stateful=True is not supported")
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. "
                             f"Received filters={filters!r}.")
        self.filters = filters
        self.kernel_size = standardize_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = standardize_tuple(strides, self.rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"Specifying `strides > 1` is not compatible with `dilation_rate > 1`. Received: "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.kernel = self.recurrent_kernel = self.bias = None

    def _check_shape(self, shape):
        if len(shape) != self.rank + 3 or any(s is None for s in shape[2:]):
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 3} (batch, timesteps, *spatial, channels) with every size but the "
                             f"batch and the timesteps known, found shape={shape_str(shape)}")

    def build(self, input_shape):
        self._check_shape(input_shape)
        C, F = input_shape[-1], self.filters
        self._weight_subpath = "conv_lstm_cell"  # Keras's weights belong to its cell: "conv_lstm2d/conv_lstm_cell/kernel"
        self.kernel = self.add_weight("kernel", self.kernel_size + (C, 4 * F), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", self.kernel_size + (F, 4 * F),
                                                self.recurrent_initializer, self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            init = (_forget_bias_initializer(self.bias_initializer, F) if self.unit_forget_bias
                    else self.bias_initializer)
            self.bias = self.add_weight("bias", (4 * F,), init, self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def _state_shape(self, input_shape):
        spatial = [output_length(n, k, s, d, self.padding) for n, k, s, d in
                   zip(input_shape[2:-1], self.kernel_size, self.strides, self.dilation_rate)]
        return (input_shape[0],) + tuple(spatial) + (self.filters,)

    def compute_output_shape(self, input_shape):
        state = self._state_shape(input_shape)
        out = (state[0], input_shape[1]) + state[1:] if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def compute_mask(self, inputs, mask):
        m = mask[0] if isinstance(mask, (list, tuple)) else mask
        out = m if self.return_sequences else None
        return [out, None, None] if self.return_state else out

    def call(self, sequences, initial_state=None, mask=None, training=None):
        ops = base._ops()
        shape = tuple(sequences.shape)
        self._check_shape(shape)
        state_shape = self._state_shape(shape)
        if any(n <= 0 for n in state_shape[1:]):
            raise ValueError(f"{type(self).__name__} {self.name!r}: the kernel {self.kernel_size} is larger than the "
                             f"input's spatial sizes {shape_str(shape)}")
        batch = ops.shape(sequences)[0]
        if initial_state is None:
            h = ops.zeros((batch,) + state_shape[1:])
            c = ops.zeros((batch,) + state_shape[1:])
        else:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != 2 or any(not isinstance(s, KerasTensor) or tuple(s.shape[1:]) != state_shape[1:]
                                       for s in states):
                raise ValueError(f"Layer {self.name!r} expects 2 initial states (h, c), each of shape "
                                 f"{shape_str(state_shape)}. Received: {initial_state!r}")
            h, c = states
        if shape[1] is None:
            return self._scan(sequences, h, c, mask, state_shape)
        steps = ops.unstack(sequences, axis=1)
        masks = None
        if mask is not None:
            m = mask[0] if isinstance(mask, (list, tuple)) else mask
            masks = ops.unstack(ops.reshape(ops.cast(m, "bool"), (-1, shape[1]) + (1,) * (self.rank + 1)), axis=1)
        if self.go_backwards:
            steps = steps[::-1]
            masks = masks[::-1] if masks is not None else None
        x_masks = self._dropout_masks(ops, steps[0], self.dropout)
        h_masks = self._dropout_masks(ops, h, self.recurrent_dropout)
        outs, prev = [], None
        for t, x in enumerate(steps):
            h_new, c_new = self._step(ops, x, h, c, x_masks, h_masks)
            out = h_new
            if masks is not None:  # Keras's RNN: a masked step keeps the states and repeats the previous output
                h_new = ops.where(masks[t], h_new, h)
                c_new = ops.where(masks[t], c_new, c)
                out = ops.where(masks[t], out, ops.zeros_like(out) if prev is None else prev)
                prev = out
            h, c = h_new, c_new
            outs.append(out)
        output = ops.stack(outs, axis=1) if self.return_sequences else outs[-1]
        return [output, h, c] if self.return_state else output

    def _step(self, ops, x, h, c, x_masks=None, h_masks=None):
        """One timestep: (h, c) after the input x_t from (h, c)."""
        act, ract = _function(self.activation), _function(self.recurrent_activation)
        z = ops.split(ops.add(self._gates(ops, x, x_masks, self.kernel, self.strides, self.padding,
                                          self.dilation_rate, self.bias),
                              self._gates(ops, h, h_masks, self.recurrent_kernel, 1, "same", 1, None)), 4, axis=-1)
        i, f, o = ract(z[0]), ract(z[1]), ract(z[3])
        c_new = ops.add(ops.multiply(f, c), ops.multiply(i, act(z[2])))
        return ops.multiply(o, act(c_new)), c_new

    def _scan(self, sequences, h, c, mask, state_shape):
        """A run-time sequence length: the step in the native scan (masking, go_backwards and the
        states as the unrolled path's)."""
        for name in ("dropout", "recurrent_dropout"):
            if 0.0 < getattr(self, name) < 1.0:
                raise NotImplementedError(
                    f"{type(self).__name__} {self.name!r}: {name}={getattr(self, name)} with a run-time sequence "
                    "length (Input((None, ...))) is not supported: Keras draws one mask for the whole sequence, "
                    "the native scan draws per step. Give the Input a fixed sequence length, or no dropout")
        m = mask[0] if isinstance(mask, (list, tuple)) else mask
        if m is not None and (not isinstance(m, KerasTensor) or len(m.shape) != 2):
            got = shape_str(m.shape) if isinstance(m, KerasTensor) else repr(m)
            raise ValueError(f"Layer {self.name!r}: `mask` must have shape (batch, timesteps), got {got}")
        shape = tuple(state_shape[1:])
        scan = rnn_scan._Scan(self, _ConvLSTMStep(self, shape), self.return_sequences, self.go_backwards,
                              m is not None, True, state_shapes=[shape, shape], output_shape=shape)
        output, h, c = scan([sequences, h, c] + ([m] if m is not None else []))
        output._mask = None  # the layer's output takes compute_mask's
        return [output, h, c] if self.return_state else output

    def _gates(self, ops, x, masks, kernel, strides, padding, dilation, bias):
        """The four gates' convolutions of x, concatenated on the last axis (i, f, c, o): one
        convolution by the whole kernel, or one per gate where dropout gives each its own input."""
        if masks is None:
            z = ops.conv(x, kernel, strides, padding, None, dilation)
        else:
            z = ops.concatenate([ops.conv(ops.multiply(x, m), k, strides, padding, None, dilation)
                                 for m, k in zip(masks, ops.split(kernel, 4, axis=-1))], axis=-1)
        return z if bias is None else ops.add(z, bias)

    def _dropout_masks(self, ops, like, rate):
        """Keras's DropoutRNNCell: one mask per gate, drawn once for the sequence; training only."""
        if not 0.0 < rate < 1.0:
            return None
        ones = ops.ones_like(like)
        return [ops.dropout(ones, rate, seed=None) for _ in range(4)]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint), "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful}


@register
class ConvLSTM1D(_ConvLSTM):
    """Keras's ConvLSTM1D: input (batch, timesteps, steps, channels)."""
    rank = 1


@register
class ConvLSTM2D(_ConvLSTM):
    """Keras's ConvLSTM2D: input (batch, timesteps, rows, cols, channels)."""
    rank = 2


@register
class ConvLSTM3D(_ConvLSTM):
    """Keras's ConvLSTM3D: input (batch, timesteps, depth, rows, cols, channels)."""
    rank = 3
