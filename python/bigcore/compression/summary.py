"""bigcore.compression.summary(model): per layer, how many parameters, how sparse, and how many
bytes the layer's weights take dense and as save_model stores them (bigcore/saving/storage.py)."""

import math

import numpy as np

from bigcore.layers.core import InputLayer
from bigcore.saving import storage


def _kernel_like(weights):
    """Sparsity is measured over a layer's kernels (weights of 2 or more axes), else all weights."""
    ws = [w for w in weights if len(w.shape) >= 2]
    return ws or list(weights)


def summary(model, print_fn=None):
    """Prints a table and returns its rows: dicts with layer, type, params, nonzero, sparsity
    (share of exact zeros in the kernels), dense_bytes (the weights dense, in their own dtypes),
    stored_bytes (the weight payload save_model writes), ratio (dense / stored), float32_ratio
    (the same parameters as dense float32 / stored) and pruned; the last row totals all weights."""
    model._ensure_built()
    rows, seen = [], set()
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        ws = [w for w in layer.weights if id(w) not in seen]
        seen.update(id(w) for w in ws)
        values = {id(w): np.asarray(w.value) for w in ws}
        dense = sum(v.nbytes for v in values.values())
        stored = sum(storage.choose(v)[1] for v in values.values())
        kern = _kernel_like(ws)
        n_k = sum(math.prod(w.shape) for w in kern)
        zeros_k = sum(int(np.count_nonzero(~storage._nonzero(values[id(w)]))) for w in kern)
        nonzero = sum(int(np.count_nonzero(storage._nonzero(v))) for v in values.values())
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "params": sum(v.size for v in values.values()), "nonzero": nonzero,
                     "sparsity": zeros_k / n_k if n_k else 0.0, "dense_bytes": dense, "stored_bytes": stored,
                     "ratio": dense / stored if stored else (1.0 if not dense else math.inf),
                     "float32_ratio": 4 * sum(v.size for v in values.values()) / stored if stored else 1.0,
                     "pruned": getattr(layer, "_pruning", None) is not None})
    total = {"layer": "total", "type": "", "params": sum(r["params"] for r in rows),
             "nonzero": sum(r["nonzero"] for r in rows), "dense_bytes": sum(r["dense_bytes"] for r in rows),
             "stored_bytes": sum(r["stored_bytes"] for r in rows), "pruned": any(r["pruned"] for r in rows)}
    total["sparsity"] = 1.0 - total["nonzero"] / total["params"] if total["params"] else 0.0
    total["ratio"] = total["dense_bytes"] / total["stored_bytes"] if total["stored_bytes"] else 1.0
    total["float32_ratio"] = 4 * total["params"] / total["stored_bytes"] if total["stored_bytes"] else 1.0
    rows.append(total)
    (print_fn or print)(_table(model, rows))
    return rows


def _table(model, rows):
    head = ("Layer (type)", "Params", "Sparsity", "Dense bytes", "Stored bytes", "Ratio", "vs float32")
    body = [(r["layer"] + (f" ({r['type']})" if r["type"] else "") + (" *" if r["pruned"] and r["type"] else ""),
             f"{r['params']:,}", f"{100 * r['sparsity']:.1f}%", f"{r['dense_bytes']:,}", f"{r['stored_bytes']:,}",
             f"{r['ratio']:.2f}x", f"{r['float32_ratio']:.2f}x") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    line = "-" * len(fmt(head))
    out = [f'Compression summary: "{model.name}"  (* pruned; sparsity over kernels; the total row over all weights)',
           line, fmt(head), line] + [fmt(b) for b in body[:-1]] + [line, fmt(body[-1])]
    return "\n".join(out)
