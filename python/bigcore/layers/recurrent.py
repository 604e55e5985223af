"""SimpleRNN, LSTM, GRU and Bidirectional on the native recurrent op (cpp/ops/recurrent.h and its
cells simple_rnn.cpp, lstm.cpp, gru.cpp).

Weights use Keras's layout, so get_weights()/set_weights() exchange with Keras unchanged:
SimpleRNN kernel (D, U), recurrent_kernel (U, U), bias (U);
LSTM kernel (D, 4U), recurrent_kernel (U, 4U), bias (4U), gates i, f, c, o;
GRU kernel (D, 3U), recurrent_kernel (U, 3U), gates z, r, h, bias (2, 3U) (reset_after=True, Keras's
default: input half, recurrent half) or (3U) (reset_after=False: the reset gate multiplies h_prev
before the candidate's recurrent product).
Dropout: one input mask and one recurrent mask per sample, shared by the gates and reused at
every timestep of a batch (Keras draws one mask per gate when recurrent_dropout is set; the
distribution of each gate's mask is the same).
"""

import numpy as np

from bigcore import _random, activations, initializers, regularizers
from bigcore.layers import base, tracing
from bigcore.layers.base import KerasTensor, Layer, flat_tensors, shape_str
from bigcore.layers.registry import custom_classes, layer_config, layer_from_config, register


def _check_rnn_kwargs(layer, x, kwargs, n_states, units, what):
    """Keras's checks of an RNN call's keywords: `mask` one value per (sample, timestep) of x;
    `initial_state` n_states symbolic tensors of shape (batch, units)."""
    mask = kwargs.get("mask")
    if mask is not None:
        if not isinstance(mask, KerasTensor):
            raise TypeError(f"Layer {layer.name!r}: `mask` must be a symbolic tensor when the layer is called on "
                            f"symbolic inputs. Received: mask={mask!r}")
        if len(mask.shape) != 2 or mask.shape[1] != x.shape[1]:
            raise ValueError(f"Layer {layer.name!r}: `mask` must have shape (batch, timesteps) = "
                             f"{shape_str((None, x.shape[1]))}, got {shape_str(mask.shape)}")
    if "initial_state" not in kwargs:
        return
    states = kwargs["initial_state"]
    flat = flat_tensors(states)
    given = states if isinstance(states, (list, tuple)) else [states]
    if len(flat) != len(given):
        raise TypeError(f"Layer {layer.name!r}: `initial_state` must be symbolic tensors when the layer is called on "
                        f"symbolic inputs. Received: initial_state={states!r}")
    if len(flat) != n_states:
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) expects {n_states} initial state "
                         f"tensor(s) ({what}), got {len(flat)}")
    for i, t in enumerate(flat):
        if len(t.shape) != 2 or t.shape[1] != units:
            raise ValueError(f"Layer {layer.name!r}: initial state {i} must have shape (batch, {units}), got "
                             f"{shape_str(t.shape)}")


def _call_mask(prog):
    """The mask the recurrent computation of the node being lowered applies (a tensor id, or -1).
    Keras 3 hands a layer the propagated mask only when the call has one tensor argument
    (layers/layer.py __call__, step 6): with `initial_state` the propagated mask is not applied
    (the output still carries it), an explicit `mask=` always is."""
    kw = prog.node.call_kwargs
    if "initial_state" in kw and "mask" not in kw:
        return -1
    return prog.input_mask_id()


class _RNN(Layer):
    supports_variable_length = True  # the op reads T per call (lowering.py)
    kind = None
    gates = None
    n_states = 1
    call_keywords = ("initial_state", "mask", "training")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", **kw):
        super().__init__(**kw)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, got {units!r}")
        if any(c is not None for c in (kernel_constraint, recurrent_constraint, bias_constraint)):
            raise ValueError(f"{type(self).__name__}: weight constraints are not supported on recurrent layers yet")
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1). Received: {name}={rate}")
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        for arg, act in (("activation", self.activation), ("recurrent_activation", self.recurrent_activation)):
            if act not in activations.RECURRENT:  # the cells' kernels differentiate through the gates' values
                shown = getattr(act, "__name__", act)
                raise ValueError(f"{type(self).__name__}: {arg}={shown!r} is not supported in a recurrent cell; "
                                 f"supported: {', '.join(activations.RECURRENT)}")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.dropout, self.recurrent_dropout, self.seed = float(dropout), float(recurrent_dropout), seed
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll, self.use_cudnn = unroll, use_cudnn
        # stateful: the last states of each call start the next one (Keras's RNN.states: variables
        # of (batch, units) the layer does not track as weights, so files do not hold them)
        self.stateful, self.states = bool(stateful), None
        self._stream = seed if seed is not None else _random.next_stream()
        # set by Bidirectional on its backward copy
        self.zero_output_for_mask = False
        self._output_in_input_order = False
        self.kernel = self.recurrent_kernel = self.bias = None
        self._is_cell_step = False  # set by a cell (rnn_cells.py) whose step this layer is

    def _check_input(self, shape):
        if len(shape) != 3 or shape[2] is None:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected a 3-D input '
                             f"(batch, timesteps, features) with known features, got {shape_str(shape)}")
        if self.kernel is not None and shape[2] != self.kernel.shape[0]:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 of '
                             f"input shape to have value {self.kernel.shape[0]}, got {shape_str(shape)}")

    def _bias_value(self, shape):
        return self.bias_initializer(shape)

    def build(self, input_shape):
        G, U = self.gates, self.units
        # Keras's weights belong to the layer's cell: "lstm/lstm_cell/kernel" (a cell's step is that cell)
        self._weight_subpath = None if self._is_cell_step else self._cell_name
        self.kernel = self.add_weight("kernel", (input_shape[-1], G * U), self.kernel_initializer, self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (U, G * U), self.recurrent_initializer,
                                                self.recurrent_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_value, self.bias_regularizer)
        if self.stateful:
            self._build_states(input_shape[0])
        self.built = True

    def _build_states(self, batch):
        if self.states is not None:  # Keras: building again resets them
            self.reset_state()
            return
        if batch is None:
            raise ValueError(f"Layer {self.name!r}: when using `stateful=True` in a RNN, the batch size must be "
                             "static (Input(batch_shape=(batch, timesteps, features)) or batch_size=...). Found "
                             "dynamic batch size: None")
        self.states = [base.Weight(f"{self.name}/rnn_state", (int(batch), self.units), initializers.get("zeros"),
                                   trainable=False) for _ in range(self.n_states)]

    def reset_state(self):
        """Zeros the states of a stateful layer (Keras's reset_state)."""
        for w in self.states or ():
            w.assign(np.zeros(w.shape, np.float32))

    reset_states = reset_state

    def _bias_shape(self):
        return (self.gates * self.units,)

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        out = (B, T, self.units) if self.return_sequences else (B, self.units)
        if self.return_state:
            return [out] + [(B, self.units)] * self.n_states
        return out

    def compute_mask(self, inputs, masks):
        mask = masks[0] if self.return_sequences else None
        return [mask] + [None] * self.n_states if self.return_state else mask

    def _check_call_kwargs(self, xs, kwargs):
        _check_rnn_kwargs(self, xs[0], kwargs, self.n_states, self.units, "[h, c]" if self.n_states == 2 else "[h]")

    def lower(self, prog, inputs, outputs):
        states = [prog.id(t) for t in flat_tensors(prog.node.call_kwargs.get("initial_state"))]
        if not self.stateful:
            return self._lower_rnn(prog, inputs[0], _call_mask(prog), states, outputs)
        return self._lower_stateful(prog, inputs[0], states, outputs)

    def _lower_stateful(self, prog, x, states, outputs):
        """The op starts from the state variables (unless initial_state is given, as in Keras) and its
        last states are written back to them (ops/traced.h: WeightRowsOp, AssignWeightOp)."""
        U, B = self.units, self.states[0].shape[0]
        if not states:
            for w in self.states:
                t = prog.tensor(KerasTensor(None, dims=(U,), name=f"{self.name}/state_in"))
                prog.native.add_weight_rows(t, prog.param(w), B * U)
                states.append(t)
        extra = [] if self.return_state else [KerasTensor(None, dims=(U,), name=f"{self.name}/state_out")
                                              for _ in self.states]
        outs = self._lower_rnn(prog, x, _call_mask(prog), states, list(outputs) + extra, return_state=True)
        for w, t in zip(self.states, outs[len(outs) - len(self.states):]):
            copy = prog.tensor(KerasTensor(None, dims=(B, U), batched=False, name=f"{self.name}/state"))
            prog.native.add_assign_weight(t, copy, prog.param(w), B * U, 0)
        return outs[:len(outputs)]

    def _lower_rnn(self, prog, x, mask, states, outputs, x_kt=None, return_state=None):
        """Adds the op: x, mask (-1: none) and the initial states (none: zeros) are tensor ids;
        x_kt: x's KerasTensor when it is not the node's input (a stacked cell's); return_state: the
        op's own (a stateful layer reads its last states), else the layer's."""
        x_kt = prog.node.inputs[0] if x_kt is None else x_kt
        outs = [prog.tensor(kt) for kt in outputs]
        T, D = x_kt.shape[1] or 0, x_kt.shape[2]  # T 0: variable length, read per call by the op
        prog.native.add_recurrent(
            self.kind, x, mask, outs, prog.param(self.kernel), prog.param(self.recurrent_kernel),
            prog.param(self.bias) if self.use_bias else -1, D, self.units, T,
            activations.native_id(self.activation), activations.native_id(self.recurrent_activation),
            self.return_sequences, self.return_state if return_state is None else return_state, self.go_backwards,
            self.zero_output_for_mask, self._output_in_input_order, self.dropout, self.recurrent_dropout,
            self._stream, states)
        return outs

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful}


@register
class LSTM(_RNN):
    kind = "lstm"
    _cell_name = "lstm_cell"
    gates = 4
    n_states = 2

    def __init__(self, units, unit_forget_bias=True, **kw):
        super().__init__(units, **kw)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_value(self, shape):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape)
        U = self.units
        b = self.bias_initializer((4 * U,))
        b[U:2 * U] = 1.0  # Keras: ones for the forget gate, bias_initializer elsewhere
        return b

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(_RNN):
    kind = "gru"
    _cell_name = "gru_cell"
    gates = 3
    n_states = 1

    def __init__(self, units, reset_after=True, **kw):
        super().__init__(units, **kw)
        self.reset_after = bool(reset_after)
        # reset_after=False: the reset gate multiplies h_prev before the candidate's recurrent product
        # (cpp/ops/gru.h, GruBeforeOp), one bias (3U)
        self.kind = "gru" if self.reset_after else "gru_reset_before"

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@register
class SimpleRNN(_RNN):
    """h_t = activation(x_t kernel + bias + h_{t-1} recurrent_kernel); Keras's arguments (no
    recurrent_activation: Keras's SimpleRNN has none, and refuses it as an unknown keyword)."""

    kind = "simple_rnn"
    _cell_name = "simple_rnn_cell"
    gates = 1
    n_states = 1

    def __init__(self, units, activation="tanh", **kw):
        if "recurrent_activation" in kw:  # as the base Layer refuses any keyword it does not know
            raise TypeError(f"Unrecognized keyword arguments passed to SimpleRNN: "
                            f"{{'recurrent_activation': {kw['recurrent_activation']!r}}}")
        super().__init__(units, activation=activation, **kw)

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


def _check_backward_layer(forward, backward):
    """A backward_layer of one's own: Keras's checks, and bigcore's limit (both halves the same
    class and size: the merge and the states are laid out for one size)."""
    if not isinstance(backward, Layer):
        raise ValueError(f"Bidirectional: backward_layer must be a layer instance. Received: {backward!r}")
    if getattr(backward, "go_backwards", False) == forward.go_backwards:
        raise ValueError("Forward layer and backward layer should have different `go_backwards` value. Received: "
                         f"forward_layer.go_backwards {forward.go_backwards}, backward_layer.go_backwards="
                         f"{getattr(backward, 'go_backwards', False)}")
    for a in ("stateful", "return_sequences", "return_state"):
        if getattr(forward, a, False) != getattr(backward, a, False):
            raise ValueError(f"Forward layer and backward layer are expected to have the same value for attribute "
                             f'"{a}", got "{getattr(forward, a, False)}" for forward layer and '
                             f'"{getattr(backward, a, False)}" for backward layer')
    if type(backward) is not type(forward) or getattr(backward, "units", None) != getattr(forward, "units", None):
        raise NotImplementedError(
            f"Bidirectional: a backward_layer of another class or size than `layer` is not supported yet. Received: "
            f"layer {type(forward).__name__}(units={getattr(forward, 'units', None)}), backward_layer "
            f"{type(backward).__name__}(units={getattr(backward, 'units', None)})")


@register
class Bidirectional(Layer):
    """Runs a copy of `layer` forward and one backward over time and merges their outputs.
    initial_state: the forward layer's states, then the backward layer's (Keras's split in halves).
    Over an RNN with a cell of one's own (unrolled, layers/rnn_unroll.py) the copies are RNN layers
    made from its config, and call() below is traced: Keras's Bidirectional.call."""

    call_keywords = ("initial_state", "mask", "training")
    supports_variable_length = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kw):
        self._unrolled = bool(getattr(layer, "_unrolled", False))
        if not isinstance(layer, _RNN) and hasattr(layer, "_as_recurrent_layer") and not self._unrolled:
            layer = layer._as_recurrent_layer()  # RNN(built-in cell): its layer
        if not isinstance(layer, _RNN) and not self._unrolled:
            raise ValueError(f"Bidirectional expects a SimpleRNN, LSTM or GRU layer, or an RNN layer, got {layer!r}")
        if merge_mode not in ("concat", "sum", "ave", "mul", None):
            raise ValueError(f"Invalid merge_mode: {merge_mode!r}. Merge mode should be one of "
                             "{'sum', 'mul', 'ave', 'concat', None}")
        if layer.go_backwards:
            raise ValueError("Bidirectional expects a layer with go_backwards=False (it makes the backward copy "
                             "itself); as in Keras 3")
        super().__init__(**kw)
        self.merge_mode = merge_mode
        self.layer = layer
        cfg = layer.get_config()
        cfg.pop("input_shape", None)
        with custom_classes({type(c).__name__: type(c) for c in getattr(layer, "_cells", ())}):  # copies of its cells
            self.forward_layer = type(layer).from_config({**cfg, "name": f"forward_{layer.name}"})
            if backward_layer is None:
                backward_layer = type(layer).from_config({**cfg, "name": f"backward_{layer.name}",
                                                          "go_backwards": not layer.go_backwards})
            else:
                _check_backward_layer(layer, backward_layer)
                self._own_backward = True
        self.backward_layer = backward_layer
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        # Keras re-reverses the backward sequence so both halves line up in input order
        self.backward_layer._output_in_input_order = self.backward_layer.return_sequences
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        if weights is not None:
            raise ValueError("Bidirectional(weights=...) is not supported; use set_weights()")

    def __call__(self, inputs, *args, **kwargs):
        if self._unrolled:
            return tracing.trace_call(self, inputs, args, kwargs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        """Keras's Bidirectional.call, traced: over RNN layers with cells of one's own."""
        ops = base._ops()
        states = flat_tensors(initial_state) if initial_state is not None else []
        half = len(states) // 2
        outs = []
        for sub, given in ((self.forward_layer, states[:half]), (self.backward_layer, states[half:])):
            kw = {"initial_state": given} if given else {}
            if mask is not None:
                kw["mask"] = mask
            outs.append(sub(sequences, **kw))
        y, y_rev = outs
        tail = []
        if self.return_state:
            tail, y, y_rev = list(y[1:]) + list(y_rev[1:]), y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        if self.merge_mode is None:
            return [y, y_rev] + tail
        merged = {"concat": lambda: ops.concatenate([y, y_rev], axis=-1), "sum": lambda: y + y_rev,
                  "ave": lambda: (y + y_rev) / 2, "mul": lambda: y * y_rev}[self.merge_mode]()
        return [merged] + tail if self.return_state else merged

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights if self._unrolled else list(self._weights)

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self._weights = [] if self._unrolled else self.forward_layer.weights + self.backward_layer.weights
        self.built = True

    def _check_input(self, shape):
        self.forward_layer._check_input(shape)

    def _check_call_kwargs(self, xs, kwargs):
        f = self.forward_layer
        _check_rnn_kwargs(self, xs[0], kwargs, 2 * f.n_states, f.units,
                          "forward h, c, backward h, c" if f.n_states == 2 else "forward h, backward h")

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        out, states = (f[0], f[1:]) if self.return_state else (f, [])
        if self.merge_mode == "concat":
            out = out[:-1] + (2 * out[-1],)
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            return outs + list(states) * 2
        return outs if self.merge_mode is None else out

    def compute_mask(self, inputs, masks):
        if self._unrolled:  # traced: masks is the call's mask (else the input's own), Keras's previous_mask
            masks = [masks if masks is not None else getattr(inputs, "_mask", None)]
        mask = masks[0] if self.return_sequences else None
        outs = [mask] * (2 if self.merge_mode is None else 1)  # both sequences when not merged, as Keras
        states = [None] * (2 * self.forward_layer.n_states if self.return_state else 0)
        return outs + states if len(outs) + len(states) > 1 else mask

    def lower(self, prog, inputs, outputs):
        x_kt = prog.node.inputs[0]
        states = [prog.id(t) for t in flat_tensors(prog.node.call_kwargs.get("initial_state"))]
        half = len(states) // 2
        mask = _call_mask(prog)
        results = []
        for sub, sub_states in ((self.forward_layer, states[:half]), (self.backward_layer, states[half:])):
            f_shape = sub.compute_output_shape(x_kt.shape)
            shapes = f_shape if isinstance(f_shape, list) else [f_shape]
            kts = [KerasTensor(s, name=f"{sub.name}/out{i}") for i, s in enumerate(shapes)]
            results.append(sub._lower_rnn(prog, inputs[0], mask, sub_states, kts))  # prog.node is still ours
        fwd, bwd = results
        ns = self.forward_layer.n_states if self.return_state else 0
        if self.merge_mode is None:
            merged = [fwd[0], bwd[0]]
        else:
            out = prog.tensor(outputs[0])
            if self.merge_mode == "concat":
                U = self.forward_layer.units
                prog.native.add_concat([fwd[0], bwd[0]], out, [U, U])
            else:
                prog.native.add_merge([fwd[0], bwd[0]], out, {"sum": 0, "ave": 1, "mul": 2}[self.merge_mode])
            merged = [out]
        return merged + fwd[1:1 + ns] + bwd[1:1 + ns]

    _own_backward = False  # a backward_layer given (in the config), not the reversed copy made here

    def get_config(self):
        config = {**super().get_config(), "layer": layer_config(self.layer), "merge_mode": self.merge_mode}
        if self._own_backward:
            config["backward_layer"] = layer_config(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = layer_from_config(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = layer_from_config(config["backward_layer"])
        return cls(**config)

