"""RNN over a cell of one's own (a Layer with call(inputs, states) and state_size), unrolled as
Keras's `unroll=True` runs it. RNN.call is traced once (layers/tracing.py) and records, for each
timestep t: the slice x[:, t], one call of the cell on it and the previous states (traced like any
custom layer's call; the cell's weights, built once from the step's input shape (batch, features),
are read by every step) and the step's masking; then, with return_sequences, the outputs stacked on
axis 1. The program holds T copies of the step. go_backwards: the stack runs forward over the
reversed sequence and mask (the outputs in processing order, as Keras's).

Keras's semantics: state_size an int or a (nested) list of ints; output_size, else the first
state's size; the cell's get_initial_state(batch_size) when it has one, else zeros; a masked step
keeps the previous states and repeats the previous output (zeros with zero_output_for_mask); a cell
whose call() takes `training` gets the program's mode (fit: True, predict: False); call() returns
(output, new_states), the states a list, a tuple or one tensor. A stack runs cell by cell over the
whole sequence, which computes what Keras's StackedRNNCells computes step by step (cell i's output
at step t is cell i+1's input at step t); a SimpleRNNCell / LSTMCell / GRUCell in a stack with cells
of one's own runs its native op over the sequence between them.

A sequence length known only when the model runs (keras.Input((None, features))) runs a native
scan instead (layers/rnn_scan.py): one copy of the step, repeated T times per call.
"""

from bigcore.layers import base, recurrent
from bigcore.layers.base import KerasTensor, Layer, flat_tensors, shape_str


def is_builtin(cell):
    """A SimpleRNNCell / LSTMCell / GRUCell: one step of a native recurrent layer (`cell.step`)."""
    return isinstance(getattr(cell, "step", None), recurrent._RNN)


def check_cell(cell):
    """Keras's requirements of a cell, checked when the RNN is made."""
    if not isinstance(cell, Layer) or not callable(getattr(cell, "call", None)):
        raise TypeError(f"RNN: a cell must be a Layer with a call(inputs, states) method (SimpleRNNCell, LSTMCell, "
                        f"GRUCell, or a Layer subclass of your own). Received: cell={cell!r}")
    size = getattr(cell, "state_size", None)
    if size is None:
        raise ValueError(f"RNN: the cell {cell.name!r} ({type(cell).__name__}) needs a `state_size` attribute (an "
                         "integer, or a list of integers, one per state)")
    if not flat_sizes(size):
        raise ValueError(f"RNN: the cell {cell.name!r} ({type(cell).__name__}) has state_size={size!r}; expected an "
                         "integer or a list of integers (one per state)")


def flat_sizes(size):
    """The state sizes of a state_size (an int or nested lists of ints), in order; [] if malformed."""
    if isinstance(size, bool):
        return []
    if isinstance(size, int):
        return [size] if size > 0 else []
    if isinstance(size, (list, tuple)) and size:
        out = [flat_sizes(s) for s in size]
        return [] if not all(out) else [d for s in out for d in s]
    return []


def pack(size, flat):
    """The tensors of `flat` (an iterator) in the nesting of `size`: a tensor for an int."""
    if isinstance(size, int):
        return next(flat)
    return [pack(s, flat) for s in size]


def output_size(cell):
    """Keras's: the cell's output_size, else its first state's size."""
    size = getattr(cell, "output_size", None)
    if size is None and is_builtin(cell):
        size = cell.units
    if size is None:
        size = cell.state_size
        while isinstance(size, (list, tuple)):
            size = size[0]
    return size


def state_entries(cell):
    """A cell's top-level state entries (each an int, or a list), as the cell's call() gets them."""
    size = cell.state_size
    return [size] if isinstance(size, int) else list(size)


def check_length(layer, shape):
    """The sequence (batch, timesteps, features) with the features known (timesteps may be None:
    the native scan, layers/rnn_scan.py)."""
    if any(isinstance(s, (tuple, list)) for s in shape):
        raise ValueError(f"Layer {layer.name!r} (RNN): nested inputs (a tuple of sequences, as the Keras 2 guide's "
                         f"NestedCell takes) are not supported, as in Keras 3, whose RNN builds the cell from one "
                         f"sequence's shape and needs an integer output_size; got shapes {shape!r}. Concatenate "
                         "the sequences' features into one input instead")
    if len(shape) != 3 or shape[2] is None:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected a 3-D input '
                         f"(batch, timesteps, features) with known features, got {shape_str(shape)}")


def check_step(cell, out, new, n_states):
    """A cell's call() must return (output, new_states): one output tensor, n_states states."""
    if not isinstance(out, KerasTensor) or len(new) != n_states:
        raise ValueError(f"RNN: the cell {cell.name!r}'s call() must return (output, new_states) with one output "
                         f"tensor and {n_states} state tensor(s) (state_size={cell.state_size!r}); got "
                         f"{type(out).__name__} and {len(new)} state tensor(s)")


def initial_states(cell, batch, ops):
    """A cell's initial states, flat: get_initial_state(batch_size) when the cell has one, else zeros."""
    sizes = flat_sizes(cell.state_size)
    fn = getattr(cell, "get_initial_state", None)
    if fn is None:
        return [ops.zeros((batch, d)) for d in sizes]
    states = fn(batch_size=batch)
    flat = flat_tensors(states if isinstance(states, (list, tuple)) else [states])
    if len(flat) != len(sizes):
        raise ValueError(f"RNN: the cell {cell.name!r}'s get_initial_state() gives {len(flat)} tensor(s), but its "
                         f"state_size {cell.state_size!r} asks for {len(sizes)}")
    return flat


def _run_cell(layer, cell, xs, masks, states, last, ops):
    """Unrolls a cell of one's own over the step inputs xs (in processing order) from the flat
    `states`; masks: per step a (batch, 1) condition, or None. Returns (outputs, final states).
    A cell whose call() takes `training` gets the program's mode, as every traced call does
    (Keras: the model's training, which fit and predict set over a layer call's own)."""
    entries = state_entries(cell)
    outs, prev, zero = [], None, None
    for t, x in enumerate(xs):
        out, new = cell(x, pack(entries, iter(states)))
        new = flat_tensors(new if isinstance(new, (list, tuple)) else [new])
        check_step(cell, out, new, len(states))
        if masks is not None:
            new = [ops.where(masks[t], n, s) for n, s in zip(new, states)]
            if last:  # Keras: a masked step repeats the previous output, or gives zeros
                if zero is None:
                    zero = ops.zeros_like(out)
                out = ops.where(masks[t], out, zero if layer.zero_output_for_mask or prev is None else prev)
                prev = out
        states = new
        outs.append(out)
    return outs, states


def run(layer, cells, sequences, initial_state, mask):
    """RNN.call over `cells` (a stack, or one cell): [output] (+ the final states when return_state,
    in Keras's structure: a single cell's entries flat, a stack's grouped per cell)."""
    ops = base._ops()
    check_length(layer, sequences.shape)
    given = flat_tensors(initial_state) if initial_state is not None else None
    counts = [len(flat_sizes(c.state_size)) for c in cells]
    if given is not None:
        check_states(layer, cells, given, counts)
    masks = None
    if mask is not None:
        if not isinstance(mask, KerasTensor) or len(mask.shape) != 2 or mask.shape[1] != sequences.shape[1]:
            got = shape_str(mask.shape) if isinstance(mask, KerasTensor) else repr(mask)
            raise ValueError(f"Layer {layer.name!r}: `mask` must have shape (batch, timesteps) = "
                             f"{shape_str((None, sequences.shape[1]))}, got {got}")
        if layer.go_backwards:  # the stack runs forward over the reversed sequence
            mask = ops.flip(mask, axis=1)
        masks = ops.unstack(ops.expand_dims(mask, -1), axis=1)  # per step (batch, 1)
    steps = ops.unstack(sequences, axis=1)
    if layer.go_backwards:
        steps = steps[::-1]
    seq, finals, at = None, [], 0  # a cell's input: the list `steps`, or the sequence tensor `seq`
    for i, cell in enumerate(cells):
        last = i == len(cells) - 1
        own = given[at:at + counts[i]] if given is not None else None
        at += counts[i]
        if is_builtin(cell):  # its native op over the sequence (RNN.__init__ set what it returns)
            seq = ops.stack(steps, axis=1) if seq is None else seq
            kw = {"initial_state": own} if own else {}
            if mask is not None:
                kw["mask"] = mask
            cell.step.zero_output_for_mask = layer.zero_output_for_mask and last  # (Bidirectional sets the RNN's)
            outs = cell.step(seq, **kw)
            seq, states, steps = outs[0], outs[1:], None
            seq._mask = None  # the step's (reversed with go_backwards); the RNN's output takes compute_mask's
            output = seq
        else:
            steps = ops.unstack(seq, axis=1) if steps is None else steps
            start = own if own is not None else initial_states(cell, ops.shape(sequences)[0], ops)
            steps, states = _run_cell(layer, cell, steps, masks, start, last, ops)
            seq = None
            if last:
                output = ops.stack(steps, axis=1) if layer.return_sequences else steps[-1]
        finals.append(pack(state_entries(cell), iter(states)))
    if not layer.return_state:
        return output
    if len(cells) == 1:
        return [output] + finals[0]
    return [output] + [f[0] if isinstance(c.state_size, int) else f for c, f in zip(cells, finals)]


def check_states(layer, cells, given, counts):
    if len(given) != sum(counts):
        raise ValueError(f"Layer {layer.name!r} (RNN) expects {sum(counts)} initial state tensor(s) (each cell's "
                         f"states in order: state_size {[c.state_size for c in cells]!r}), got {len(given)}")
    sizes = [d for c in cells for d in flat_sizes(c.state_size)]
    for i, (t, d) in enumerate(zip(given, sizes)):
        if len(t.shape) != 2 or t.shape[1] != d:
            raise ValueError(f"Layer {layer.name!r}: initial state {i} must have shape (batch, {d}), got "
                             f"{shape_str(t.shape)}")

