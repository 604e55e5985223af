"""model.summary(): the Keras table of layers, output shapes and parameter counts."""

import math

from bigcore.layers.base import shape_str


def _bytes(n):
    b = 4.0 * n
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024


def render(model, line_length=None, list_inputs=True):
    """The table; list_inputs=False leaves out the InputLayer rows (as Keras does for Sequential)."""
    # the tensors among a call's keywords (initial_state, mask) count as its inputs, as in Keras
    functional = any(len(n.parents) > 1 for n in model._nodes) or len(model._inputs) > 1
    cols = [("Layer (type)", 34), ("Output Shape", 26), ("Param #", 12)]
    if functional:
        cols.append(("Connected to", 30))
    width = sum(w for _, w in cols)

    def row(values):
        return "".join(str(v)[:w - 1].ljust(w) for v, (_, w) in zip(values, cols)).rstrip()

    lines = [f'Model: "{model.name}"', "_" * width, row([c for c, _ in cols]), "=" * width]
    inputs = [(t.node.layer, t.node) for t in model._inputs] if list_inputs else []
    entries = inputs + [(n.layer, n) for n in model._nodes]  # Keras lists no InputLayer for Sequential
    seen = set()
    for layer, node in entries:
        out = node.outputs[0].shape if len(node.outputs) == 1 else [o.shape for o in node.outputs]
        out_s = shape_str(out) if isinstance(out, tuple) else ", ".join(shape_str(s) for s in out)
        params = layer.count_params() if id(layer) not in seen else 0
        seen.add(id(layer))
        kind = layer.serialized_name() if hasattr(layer, "serialized_name") else type(layer).__name__  # ops as Keras: Add
        vals = [f"{layer.name} ({kind})", out_s, params]
        if functional:
            vals.append(", ".join(t.node.layer.name for t in node.parents))
        lines.append(row(vals))
    total = sum(math.prod(w.shape) for w in model.weights)
    train = sum(math.prod(w.shape) for w in model.trainable_weights)
    lines += ["=" * width, f"Total params: {total:,} ({_bytes(total)})",
              f"Trainable params: {train:,} ({_bytes(train)})",
              f"Non-trainable params: {total - train:,} ({_bytes(total - train)})", "_" * width]
    return "\n".join(lines)
