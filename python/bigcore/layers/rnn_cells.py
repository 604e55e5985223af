"""Keras's cell API: `RNN(cell)` over SimpleRNNCell, LSTMCell, GRUCell, a cell of one's own, or a
list of them (StackedRNNCells).

A built-in cell is one step of the matching layer, so `RNN(LSTMCell(u))` runs the LSTM layer's
native op (layers/recurrent.py) with the cell's weights, in Keras's layout. A stack runs one op per
cell, each over the whole sequence: cell i's output at step t is cell i+1's input at step t, as in
Keras's step-by-step loop (a masked step keeps every cell's state and repeats the outputs in both).
A cell of one's own (a Layer with call(inputs, states) and state_size, as Keras's guide writes
them) is unrolled for a sequence length known when the model is built (keras.Input((T, features))):
RNN.call is traced with one traced call of the cell per timestep (layers/rnn_unroll.py); with a
run-time length (keras.Input((None, features))) the cell's step runs as a native scan
(layers/rnn_scan.py).
"""

import contextlib

from bigcore.layers import recurrent, rnn_scan, rnn_unroll, tracing
from bigcore.layers.base import KerasTensor, Layer, flat_tensors
from bigcore.layers.registry import layer_config, layer_from_config, register

_SEQUENCE_ARGS = ("return_sequences", "return_state", "go_backwards")
_LAYER_ARGS = ("name", "trainable", "dtype", "input_shape", "batch_input_shape", "input_dim")


class _Cell(Layer):
    """One step's configuration; `step` is the layer (recurrent.LSTM ...) an RNN runs it with, its
    weights the cell's."""

    layer_class = None

    def __init__(self, units, **kw):
        own = {k: kw.pop(k) for k in _LAYER_ARGS if k in kw}
        for k in _SEQUENCE_ARGS + ("stateful", "unroll"):
            if k in kw:
                raise TypeError(f"{type(self).__name__} does not take `{k}` (an argument of RNN, which runs the cell)")
        super().__init__(**own)
        self.step = self.layer_class(units, name=self.name, **kw)
        self.step._is_cell_step = True
        self.units = units

    @property
    def state_size(self):
        return [self.units] * self.step.n_states if self.step.n_states > 1 else self.units

    @property
    def output_size(self):
        return self.units

    # Keras's attributes of a cell
    kernel = property(lambda self: self.step.kernel)
    recurrent_kernel = property(lambda self: self.step.recurrent_kernel)
    bias = property(lambda self: self.step.bias)

    @property
    def weights(self):
        return self.step.weights

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} {self.name!r}: calling a cell on tensors step by step is not "
                                  "supported; wrap it in layers.RNN(cell), which runs it over the sequence natively")

    def get_config(self):
        config = {k: v for k, v in self.step.get_config().items() if k not in _SEQUENCE_ARGS + ("stateful",)}
        return {**config, **Layer.get_config(self)}


@register
class SimpleRNNCell(_Cell):
    layer_class = recurrent.SimpleRNN


@register
class LSTMCell(_Cell):
    layer_class = recurrent.LSTM


@register
class GRUCell(_Cell):
    layer_class = recurrent.GRU


def _as_cell(cell):
    if not isinstance(cell, _Cell):
        rnn_unroll.check_cell(cell)
    return cell


@register
class StackedRNNCells(Layer):
    """Cells run one after the other at each step (RNN(list of cells) makes one)."""

    def __init__(self, cells, **kw):
        super().__init__(**kw)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells needs a non-empty list of cells. Received: cells={cells!r}")
        self.cells = [_as_cell(c) for c in cells]

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return rnn_unroll.output_size(self.cells[-1])

    @property
    def weights(self):
        return [w for c in self.cells for w in c.weights]

    def __call__(self, *args, **kwargs):
        raise NotImplementedError("StackedRNNCells is run by layers.RNN(cells), not called on tensors")

    def get_config(self):
        return {**super().get_config(), "cells": [layer_config(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cells"] = [layer_from_config(c) for c in config["cells"]]
        return cls(**config)


@register
class RNN(Layer):
    """Keras's RNN(cell, return_sequences, return_state, go_backwards, stateful, unroll,
    zero_output_for_mask). initial_state and the returned states: each cell's, in order."""

    call_keywords = ("initial_state", "mask", "training")
    supports_variable_length = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kw):
        super().__init__(**kw)
        if stateful:
            raise ValueError("RNN: stateful=True is not supported yet")
        self.cell = StackedRNNCells(cell) if isinstance(cell, (list, tuple)) else cell
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [_as_cell(self.cell)]
        # any cell of one's own: RNN.call is traced, unrolled over the timesteps (rnn_unroll.py)
        self._unrolled = not all(isinstance(c, _Cell) for c in cells)
        if go_backwards and len(cells) > 1 and not self._unrolled:
            raise ValueError("RNN: go_backwards=True over stacked cells is not supported yet when they are all "
                             "SimpleRNNCell, LSTMCell or GRUCell; run one cell per RNN")
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), unroll
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._cells = cells
        self._steps = [c.step for c in cells if isinstance(c, _Cell)]
        for step in self._steps:  # every cell but the last hands its whole sequence on
            last = step is getattr(cells[-1], "step", None)
            step.return_sequences = self.return_sequences if last else True
            step.return_state = self.return_state or self._unrolled  # (unrolled: the stack reads each cell's)
            step.go_backwards = self.go_backwards and not self._unrolled  # (unrolled: the stack reverses the input)
            step.zero_output_for_mask = self.zero_output_for_mask and (last or not self._unrolled)

    def __call__(self, inputs, *args, **kwargs):
        if self._unrolled:  # Keras's structure comes from call()'s return value
            return tracing.trace_call(self, inputs, args, kwargs)
        out = super().__call__(inputs, *args, **kwargs)
        if not self.return_state or len(self._steps) == 1:
            return out
        grouped, at = [out[0]], 1  # Keras: one entry per cell, a list for a cell of several states
        for step in self._steps:
            part = out[at:at + step.n_states]
            grouped.append(part[0] if step.n_states == 1 else list(part))
            at += step.n_states
        return grouped

    def call(self, sequences, initial_state=None, mask=None, training=None):
        """A cell of one's own, unrolled (traced once when the layer is called; rnn_unroll.py). The
        cells follow the program's mode (`training` is Keras's argument; fit and predict set it)."""
        if len(sequences.shape) == 3 and sequences.shape[1] is None:  # a run-time length: the native scan
            if self.unroll:  # as Keras
                raise ValueError("Cannot unroll a RNN if the time dimension is undefined. \n- If using a Sequential "
                                 "model, specify the time dimension by passing an `Input()` as your first layer.\n- "
                                 "If using the functional API, specify the time dimension by passing a `shape` or "
                                 "`batch_shape` argument to your `Input()`.")
            return rnn_scan.run(self, self._cells, sequences, initial_state, mask)
        return rnn_unroll.run(self, self._cells, sequences, initial_state, mask)

    @property
    def weights(self):
        return self.cell.weights if self._unrolled else list(self._weights)

    def _as_recurrent_layer(self):
        """The equivalent SimpleRNN / LSTM / GRU layer, unbuilt (Bidirectional(RNN(cell)) runs it)."""
        if len(self._steps) != 1:
            raise ValueError("Bidirectional over RNN(stacked cells) is not supported yet; wrap one cell per RNN")
        step = self._steps[0]
        return type(step)(**{**step.get_config(), "name": self.name})

    @property
    def n_states(self):
        if self._unrolled:
            return sum(len(rnn_unroll.flat_sizes(c.state_size)) for c in self._cells)
        return sum(s.n_states for s in self._steps)

    def build(self, input_shape):
        # Keras's paths: "rnn/lstm_cell/kernel", or "rnn/stacked_rnn_cells/lstm_cell/kernel" for a stack
        with self.cell._open_name_scope() if isinstance(self.cell, StackedRNNCells) else contextlib.nullcontext():
            self._build_cells(tuple(input_shape))

    def _build_cells(self, shape):
        if self._unrolled:  # Keras: each cell built on the step's input shape (batch, features)
            rnn_unroll.check_length(self, shape)
            for cell in self._cells:
                if isinstance(cell, _Cell):
                    cell.step.build(shape)
                elif not cell.built:
                    cell.build((shape[0], shape[2]))
                    cell.built = True
                shape = shape[:2] + (rnn_unroll.output_size(cell),)
            self.built = True
            return
        for step in self._steps:
            step.build(shape)
            shape = shape[:2] + (step.units,)
        self._weights = [w for s in self._steps for w in s.weights]
        self.built = True

    def _check_input(self, shape):
        self._steps[0]._check_input(shape)

    def _check_call_kwargs(self, xs, kwargs):
        if "initial_state" not in kwargs:
            return recurrent._check_rnn_kwargs(self, xs[0], kwargs, 0, 0, "")
        flat = flat_tensors(kwargs["initial_state"])
        if len(flat) != self.n_states:
            raise ValueError(f"Layer {self.name!r} (RNN) expects {self.n_states} initial state tensor(s) (each cell's "
                             f"states in order), got {len(flat)}")
        at = 0
        for step in self._steps:
            recurrent._check_rnn_kwargs(self, xs[0], {"initial_state": flat[at:at + step.n_states]}, step.n_states,
                                        step.units, f"the states of cell {step.name!r}")
            at += step.n_states
        if "mask" in kwargs:
            recurrent._check_rnn_kwargs(self, xs[0], {"mask": kwargs["mask"]}, 0, 0, "")

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        if self._unrolled:  # flat, one shape per output tensor
            U = rnn_unroll.output_size(self._cells[-1])
            U = U if isinstance(U, int) else None
            out = (B, T, U) if self.return_sequences else (B, U)
            sizes = [d for c in self._cells for d in rnn_unroll.flat_sizes(c.state_size)]
            return [out] + [(B, d) for d in sizes] if self.return_state else out
        U = self._steps[-1].units
        out = (B, T, U) if self.return_sequences else (B, U)
        if self.return_state:
            return [out] + [(B, s.units) for s in self._steps for _ in range(s.n_states)]
        return out

    def compute_mask(self, inputs, masks):
        if self._unrolled:  # traced: masks is the call's mask (else the input's own), Keras's previous_mask
            masks = [masks if masks is not None else getattr(inputs, "_mask", None)]
        mask = masks[0] if self.return_sequences else None
        return [mask] + [None] * self.n_states if self.return_state else mask

    def lower(self, prog, inputs, outputs):
        node = prog.node
        states = [prog.id(t) for t in flat_tensors(node.call_kwargs.get("initial_state"))]
        mask = recurrent._call_mask(prog)
        x, x_kt = inputs[0], node.inputs[0]
        steps_dim = x_kt._dims[0]
        seq_out, state_outs, at = None, [], 0
        for i, step in enumerate(self._steps):
            last = i == len(self._steps) - 1
            n = step.n_states if self.return_state else 0
            seq_kt = outputs[0] if last else KerasTensor(None, dims=(steps_dim, step.units), name=f"{step.name}/seq")
            kts = [seq_kt] + list(outputs[1 + len(state_outs):1 + len(state_outs) + n])
            given = states[at:at + step.n_states] if states else []
            at += step.n_states
            outs = step._lower_rnn(prog, x, mask, given, kts, x_kt=x_kt)
            seq_out = outs[0]
            state_outs += outs[1:]
            x, x_kt = seq_out, kts[0]
        return [seq_out] + state_outs

    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": False, "unroll": bool(self.unroll),
                "zero_output_for_mask": self.zero_output_for_mask, "cell": layer_config(self.cell)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = layer_from_config(config["cell"])
        return cls(**config)
