"""RNN over a cell of one's own with a sequence length known only when the model runs
(keras.Input((None, features))): a native scan (cpp/ops/scan.h). RNN.call is traced as for a fixed
length (layers/rnn_unroll.py), but each cell of one's own is one call of a `_Scan` layer: its
lower() calls the cell once on placeholders of one timestep (the step's input and states), lowers
that call into a program of its own (Lowering.folded, as TimeDistributed does) and adds the op that
runs it T times per call, T read from the input. Keras's semantics as the unrolled path's: the
cell's initial states, masking (a masked step keeps the previous states; the last cell's output
repeats the previous one, or zeros with zero_output_for_mask), go_backwards (the outputs in
processing order), stacks run cell by cell over the whole sequence.

Backward through time runs each step's forward again from the states kept for it (cpp/ops/scan.h),
so ops that change state as they run (BatchNormalization's moving statistics) are refused in a cell.
"""

from bigcore.layers import base, rnn_unroll, tracing
from bigcore.layers.base import KerasTensor, Layer, flat_tensors, shape_str
from bigcore.layers.normalization import BatchNormalization
from bigcore.layers.rnn_unroll import flat_sizes, is_builtin, pack, state_entries


class _Scan(Layer):
    """One cell of one's own over a whole sequence: inputs [sequence, *initial states, (mask)];
    outputs [the output (the sequence of outputs with return_sequences, else the last), *final states]."""

    supports_variable_length = True  # the op reads T per call

    def __init__(self, rnn, cell, return_sequences, go_backwards, has_mask, mask_output, state_shapes=None,
                 output_shape=None):
        """state_shapes / output_shape: per sample, when not (d,) per state_size entry and (output_size,)
        (ConvLSTM's step: feature maps)."""
        super().__init__(name=f"{rnn.name}_scan")
        self.rnn, self.cell = rnn, cell
        self.return_sequences, self.go_backwards = return_sequences, go_backwards
        self.has_mask, self.mask_output = has_mask, mask_output
        self.state_shapes = state_shapes or [(d,) for d in flat_sizes(cell.state_size)]
        self.out_shape = tuple(output_shape or (rnn_unroll.output_size(cell),))

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0][0], input_shape[0][1]
        O = self.out_shape
        return [(B, T) + O if self.return_sequences else (B,) + O] + [(B,) + tuple(s) for s in self.state_shapes]

    def compute_mask(self, inputs, masks):
        return [None] * (1 + len(self.state_shapes))

    def _step_call(self, step_shape):
        """The cell called once on placeholders of one timestep: (input, states, output, new states,
        the nodes the call made), its inbound nodes undone."""
        x = KerasTensor((None,) + tuple(step_shape), name=f"{self.name}/x_t")
        states = [KerasTensor((None,) + tuple(d), name=f"{self.name}/state{i}")
                  for i, d in enumerate(self.state_shapes)]
        trace = tracing.Trace(None)
        with trace:
            out, new = self.cell(x, pack(state_entries(self.cell), iter(states)))
        trace.discard()
        new = flat_tensors(new if isinstance(new, (list, tuple)) else [new])
        rnn_unroll.check_step(self.cell, out, new, len(states))
        if tuple(out.shape[1:]) != self.out_shape:
            raise ValueError(f"RNN: the cell {self.cell.name!r}'s output has shape {shape_str(out.shape)}; expected "
                             f"{_batched(self.out_shape)} (its output_size)")
        for i, (n, d) in enumerate(zip(new, self.state_shapes)):
            if tuple(n.shape[1:]) != tuple(d):
                raise ValueError(f"RNN: the cell {self.cell.name!r}'s new state {i} has shape {shape_str(n.shape)}; "
                                 f"expected {_batched(d)} (state_size {self.cell.state_size!r})")
        return x, states, out, new, trace.nodes

    def lower(self, prog, inputs, outputs):
        x_kt = prog.node.inputs[0]
        x, states, out, new, nodes = self._step_call(x_kt.shape[2:])
        _refuse_stateful(self.cell, nodes)
        sub = prog.folded("RNN")
        x_local = sub.tensor(x)
        state_locals = [sub.tensor(s) for s in states]
        ids, _ = sub.lower_graph([(x, x_local)] + list(zip(states, state_locals)), nodes, [out] + new)
        outs = [prog.tensor(kt) for kt in outputs]
        k = len(states)
        scan = prog.native.n_ops
        prog.native.add_scan(sub.native, inputs[0], list(inputs[1:1 + k]), inputs[1 + k] if self.has_mask else -1,
                             outs, x_local, state_locals, ids[0], ids[1:], self.return_sequences, self.go_backwards,
                             self.mask_output, self.rnn.zero_output_for_mask)
        for layer, op in sub.trainable_shaped:  # an inner op's index: the path to it inside the scan
            at, path = op if isinstance(op, tuple) else (op, [])
            prog.trainable_shaped.append((layer, (scan, [at] + list(path))))
        prog.call_training = prog.call_training or sub.call_training
        return outs


def _batched(shape):
    return "(batch, " + ", ".join(str(d) for d in shape) + ")"


def _refuse_stateful(cell, nodes):
    """The backward runs each step again: a layer whose op changes state as it runs would move twice."""
    for node in nodes:
        if isinstance(node.layer, BatchNormalization):
            raise NotImplementedError(f"RNN: the cell {cell.name!r} calls BatchNormalization {node.layer.name!r}; "
                                      "with a run-time sequence length (the native scan) its moving statistics "
                                      "would move twice per step. Give the Input a fixed sequence length")
        for g in (getattr(node, "graphs", None) or {}).values():
            _refuse_stateful(cell, g.nodes)


def run(layer, cells, sequences, initial_state, mask):
    """RNN.call over `cells` with a run-time length (rnn_unroll.run's results)."""
    ops = base._ops()
    given = flat_tensors(initial_state) if initial_state is not None else None
    counts = [len(flat_sizes(c.state_size)) for c in cells]
    if given is not None:
        rnn_unroll.check_states(layer, cells, given, counts)
    if mask is not None and (not isinstance(mask, KerasTensor) or len(mask.shape) != 2):
        got = shape_str(mask.shape) if isinstance(mask, KerasTensor) else repr(mask)
        raise ValueError(f"Layer {layer.name!r}: `mask` must have shape (batch, timesteps) = "
                         f"{shape_str((None, sequences.shape[1]))}, got {got}")
    seq, reversed_, finals, at = sequences, False, [], 0
    if layer.go_backwards and is_builtin(cells[0]):  # the stack runs forward over the reversed sequence
        seq, reversed_ = ops.flip(sequences, axis=1), True
        mask = ops.flip(mask, axis=1) if mask is not None else None
    for i, cell in enumerate(cells):
        last = i == len(cells) - 1
        own = given[at:at + counts[i]] if given is not None else None
        at += counts[i]
        sequences_out = layer.return_sequences or not last
        if is_builtin(cell):
            kw = {"initial_state": own} if own else {}
            if mask is not None:
                kw["mask"] = mask
            cell.step.zero_output_for_mask = layer.zero_output_for_mask and last
            outs = cell.step(seq, **kw)
        else:
            backwards = layer.go_backwards and not reversed_  # the first cell reads the sequence backwards
            start = own if own is not None else rnn_unroll.initial_states(cell, ops.shape(sequences)[0], ops)
            scan = _Scan(layer, cell, sequences_out, backwards, mask is not None, last)
            outs = scan([seq] + list(start) + ([mask] if mask is not None else []))
            if backwards and mask is not None:  # the later cells read it in processing order
                mask = ops.flip(mask, axis=1)
            reversed_ = reversed_ or backwards
        seq, states = outs[0], outs[1:]
        seq._mask = None  # the RNN's output takes compute_mask's
        finals.append(pack(state_entries(cell), iter(states)))
    if not layer.return_state:
        return seq
    if len(cells) == 1:
        return [seq] + finals[0]
    return [seq] + [f[0] if isinstance(c.state_size, int) else f for c, f in zip(cells, finals)]
