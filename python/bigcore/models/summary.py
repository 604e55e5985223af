"""model.summary(): the Keras table of layers, output shapes and parameter counts."""

import math
import re

from bigcore.layers.base import shape_str


def _bytes(n):
    b = 4.0 * n
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024


def _widths(names, line_length, positions):
    """Column widths: Keras's default split of the line, or its `positions` (fractions of the line
    when all are at most 1, else absolute end columns)."""
    base = [34, 26, 12, 30][:3 + ("Connected to" in names)] + ([11] if names[-1] == "Trainable" else [])
    if positions is None:
        if line_length is None:
            return base
        total = sum(base)
        ends = [round(line_length * sum(base[:i + 1]) / total) for i in range(len(base))]
    else:
        positions = list(positions)
        if len(positions) != len(names):
            raise ValueError(f"positions must give one position per column ({len(names)}: {', '.join(names)}). "
                             f"Received: positions={positions}")
        length = line_length or sum(base)
        ends = [round(p * length) if all(q <= 1 for q in positions) else int(p) for p in positions]
    widths = [e - b for b, e in zip([0] + ends[:-1], ends)]
    if any(w < 2 for w in widths):
        raise ValueError(f"summary(): columns of widths {widths} leave no room (line_length={line_length}, "
                         f"positions={positions})")
    return widths


def _layer_bounds(names, layer_range):
    """Keras's layer_range: from the first layer whose name matches layer_range[0] (a regular
    expression, re.match) to the last matching layer_range[1], both included."""
    if layer_range is None:
        return 0, len(names)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2:
        raise ValueError(f"layer_range must be a list or tuple of length 2. Received: layer_range={layer_range!r}")
    if not all(isinstance(r, str) for r in layer_range):
        raise ValueError(f"layer_range should contain string type only. Received: {layer_range}")
    lower = [i for i, n in enumerate(names) if re.match(layer_range[0], n)]
    upper = [i for i, n in enumerate(names) if re.match(layer_range[1], n)]
    if not lower or not upper:
        raise ValueError(f"Passed layer_names do not match the layer names in the model. Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def _entries(model, list_inputs):
    """[(layer, [its nodes in this model])], each layer once, in the order of its first call (Keras's
    model.layers: one row per layer, however many times the model calls it)."""
    inputs = [(t.node.layer, t.node) for t in model._inputs] if list_inputs else []
    grouped = {}
    for layer, node in inputs + [(n.layer, n) for n in model._nodes]:  # Keras lists no InputLayer for Sequential
        grouped.setdefault(id(layer), (layer, []))[1].append(node)
    return list(grouped.values())


def _tensor_ref(t):
    """Keras's name of a tensor in "Connected to": layer[node index][tensor index]."""
    node = t.node
    inbound = getattr(node.layer, "_inbound", [])
    n = next((i for i, x in enumerate(inbound) if x is node), 0)
    k = next((i for i, x in enumerate(node.outputs) if x is t), 0)
    return f"{node.layer.name}[{n}][{k}]"


def _wrap(text, width):
    """text in lines of at most width - 1 characters, broken after ", " where it can be (Keras's table
    wraps its cells the same way)."""
    room, lines, cur = max(width - 1, 1), [], ""
    for part in text.split(", "):
        piece = part if not cur else f"{cur}, {part}"
        if len(piece) <= room or not cur:
            cur = piece
        else:
            lines.append(cur + ",")
            cur = part
    lines.append(cur)
    return [line[i:i + room] for line in lines for i in range(0, max(len(line), 1), room)]


def _table(model, names, widths, rows, total, train):
    """Keras's table: the header, each row's values (the last text column wrapped over lines, the
    others cut to their column), the counts."""
    cols = list(zip(names, widths))
    width = sum(widths)
    wrap_col = names.index("Connected to") if "Connected to" in names else None

    def line(values):
        return "".join(str(v)[:w - 1].ljust(w) for v, (_, w) in zip(values, cols)).rstrip()

    body = []
    for r in rows:
        if wrap_col is None:
            body.append(line(r))
            continue
        parts = _wrap(str(r[wrap_col]), widths[wrap_col])
        body.append(line(r[:wrap_col] + [parts[0]] + r[wrap_col + 1:]))
        body += [line([""] * wrap_col + [p] + [""] * (len(r) - wrap_col - 1)) for p in parts[1:]]
    lines = [f'Model: "{model.name}"', "_" * width, line(names), "=" * width] + body
    lines += ["=" * width, f"Total params: {total:,} ({_bytes(total)})",
              f"Trainable params: {train:,} ({_bytes(train)})",
              f"Non-trainable params: {total - train:,} ({_bytes(total - train)})", "_" * width]
    return "\n".join(lines)


def _shape_text(node):
    out = node.outputs[0].shape if len(node.outputs) == 1 else [o.shape for o in node.outputs]
    return shape_str(out) if isinstance(out, tuple) else ", ".join(shape_str(s) for s in out)


def render(model, line_length=None, list_inputs=True, positions=None, show_trainable=False, expand_nested=False,
           layer_range=None):
    """The table; list_inputs=False leaves out the InputLayer rows (as Keras does for Sequential).
    One row per layer (Keras's): its output shape at its last call, its parameters, and every tensor
    its calls took (layer[node][tensor]). show_trainable adds Keras's Trainable column (Y / N, - for a
    layer without weights); expand_nested lists a nested model's layers under it."""
    # the tensors among a call's keywords (initial_state, mask) count as its inputs, as in Keras
    entries = _entries(model, list_inputs)
    functional = (any(len(n.parents) > 1 for n in model._nodes) or len(model._inputs) > 1
                  or any(len(nodes) > 1 for _, nodes in entries))
    names = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    names += ["Trainable"] if show_trainable else []
    widths = _widths(names, line_length, positions)
    lo, hi = _layer_bounds([layer.name for layer, _ in entries], layer_range)
    rows = []

    def add_rows(layer, nodes, level, connect):
        kind = layer.serialized_name() if hasattr(layer, "serialized_name") else type(layer).__name__  # ops as Keras: Add
        kind = "Functional" if kind == "Model" else kind  # Keras's name for a nested functional model
        prefix = "   " * level + "└ " if level else ""
        vals = [f"{prefix}{layer.name} ({kind})", _shape_text(nodes[-1]), layer.count_params()]
        if functional:
            refs = [_tensor_ref(t) for node in nodes for t in node.parents]
            vals.append((", ".join(refs) or "-") if connect else "")
        if show_trainable:
            vals.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        rows.append(vals)
        if expand_nested and hasattr(layer, "_nodes") and getattr(layer, "_inputs", None) is not None:
            for sub, sub_nodes in _entries(layer, False):
                add_rows(sub, sub_nodes, level + 1, False)

    for layer, nodes in entries[lo:hi]:
        add_rows(layer, nodes, 0, True)
    total = sum(math.prod(w.shape) for w in model.weights)
    train = sum(math.prod(w.shape) for w in model.trainable_weights)
    return _table(model, names, widths, rows, total, train)


def render_unbuilt(model, line_length=None):
    """An unbuilt Sequential as Keras shows it: its layers, no shapes yet (?), no parameters (unbuilt)."""
    names = ["Layer (type)", "Output Shape", "Param #"]
    rows = [[f"{layer.name} ({type(layer).__name__})", "?", "0 (unbuilt)"] for layer in model.layers]
    return _table(model, names, _widths(names, line_length, None), rows, 0, 0)
