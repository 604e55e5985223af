"""plot_model, model_to_dot and plot_history: pictures of a model's graph and of a training run.

plot_model draws with Graphviz (pydot + the `dot` program) when both are there, as Keras does;
otherwise it draws the same boxes and edges itself with matplotlib, so `pip install "bigcore[plot]"`
is enough. Both paths draw from one description of the graph (_graph), so they show the same
things: one table per layer, "name (ClassName)" on black, then activation / shapes / dtype /
trainable cells, and one edge per layer-to-layer connection.
"""

import html
import math
import os
import shutil
from collections import namedtuple
from types import SimpleNamespace

from bigcore.layers.core import InputLayer
from bigcore.models import Sequential
from bigcore.utils.layout import layout

_INSTALL = ('run `pip install "bigcore[plot]"` (pydot + matplotlib: enough on its own), and optionally '
            "`apt-get install graphviz` (the `dot` program) for Graphviz's layout")

# One table cell: runs of (text, bold), fill colour, text colour, font size in points.
_Cell = namedtuple("_Cell", "runs fill color size")
# One layer's box: `key` names the pydot node (str(id(layer)), as Keras); rows of cells, top to
# bottom; a one-cell row spans the table.
_Box = namedtuple("_Box", "key rows")


def _import_pydot():
    try:
        import pydot  # noqa: PLC0415  (optional: the plot extra)
    except ImportError:
        return None
    return pydot


def _import_matplotlib():
    """The parts of matplotlib the drawings use (mpl.figure, mpl.patches, ...), or None without it."""
    try:
        from matplotlib import figure, font_manager, patches, path, rc_context, textpath, ticker  # noqa: PLC0415
    except ImportError:  # (optional: the plot extra)
        return None
    return SimpleNamespace(figure=figure, font_manager=font_manager, patches=patches, path=path,
                           rc_context=rc_context, textpath=textpath, ticker=ticker)


def _have_graphviz():
    return _import_pydot() is not None and shutil.which("dot") is not None


# --- what is drawn ------------------------------------------------------------------------------

def _shape_text(shapes):
    shapes = [tuple(s) for s in shapes]
    return "?" if not shapes else str(shapes[0]) if len(shapes) == 1 else str(shapes)


def _agreed(texts):
    """The text all calls of a layer agree on; "?" for a shared layer called on different shapes."""
    return texts[0] if len(set(texts)) == 1 else "?"


def _activation_name(layer):
    act = layer.activation
    return getattr(act, "name", None) or getattr(act, "__name__", None) or str(act)


def _layer_rows(layer, nodes, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                show_trainable, is_input):
    cls = type(layer).__name__
    title = [(layer.name, True), (f" ({cls})", False)] if show_layer_names else [(cls, True)]
    rows = [[_Cell(title, "black", "white", 16)]]
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        rows.append([_Cell([("Activation: ", False), (_activation_name(layer), True)], "white", "black", 14)])
    cells = []
    if show_shapes:
        if not is_input:
            shape = _agreed([_shape_text([t.shape for t in n.inputs]) for n in nodes])
            cells.append(_Cell([("Input shape: ", False), (shape, True)], "white", "black", 14))
        shape = _agreed([_shape_text([t.shape for t in n.outputs]) for n in nodes])
        cells.append(_Cell([("Output shape: ", False), (shape, True)], "white", "black", 14))
    if show_dtype:
        dtype = _agreed([", ".join(str(t.dtype) for t in n.outputs) for n in nodes])
        cells.append(_Cell([("Output dtype: ", False), (dtype, True)], "white", "black", 14))
    if show_trainable and layer.weights:
        cells.append(_Cell([("Trainable", True)], "forestgreen", "white", 14) if layer.trainable
                     else _Cell([("Non-trainable", True)], "firebrick", "white", 14))
    if cells:
        rows.append(cells)
    return rows


def _graph(model, **show):
    """(boxes, edges): one box per layer in topological order, edges as (from, to) box indices.

    A Sequential model draws no box for its input, as in Keras; a functional one does.
    """
    if not hasattr(model, "_nodes"):
        raise TypeError(f"plot_model expects a bigcore Model or Sequential. Received: {type(model).__name__}")
    if getattr(model, "_inputs", None) is None:
        raise ValueError(f"Model {model.name!r} has not yet been built. Build the model first by giving it an "
                         "input shape (an Input, or input_shape on the first layer) or by calling it on data.")
    skip_inputs = isinstance(model, Sequential)
    calls = [t.node for t in model._inputs] + list(model._nodes)
    index, layers, nodes_of = {}, [], {}
    for node in calls:
        layer = node.layer
        if skip_inputs and isinstance(layer, InputLayer):
            continue
        if id(layer) not in index:
            index[id(layer)] = len(layers)
            layers.append(layer)
        nodes_of.setdefault(id(layer), []).append(node)
    edges = []
    for node in model._nodes:
        for t in node.parents:  # keyword tensors (initial_state, mask) are edges too
            edge = (index.get(id(t.node.layer)), index[id(node.layer)])
            if edge[0] is not None and edge not in edges:
                edges.append(edge)
    boxes = [_Box(str(id(layer)), _layer_rows(layer, nodes_of[id(layer)], is_input=isinstance(layer, InputLayer),
                                              **show)) for layer in layers]
    return boxes, edges


# --- the Graphviz path ------------------------------------------------------------------------

def _html_label(rows):
    span = max(len(r) for r in rows)

    def td(cell, colspan):
        text = "".join(f"<b>{html.escape(s)}</b>" if bold else html.escape(s) for s, bold in cell.runs)
        attrs = f' colspan="{colspan}"' if colspan > 1 else ""
        return (f'<td{attrs} bgcolor="{cell.fill}"><font point-size="{cell.size}" color="{cell.color}">'
                f"{text}</font></td>")

    body = "".join("<tr>" + "".join(td(c, span if len(r) == 1 else 1) for c in r) + "</tr>" for r in rows)
    return f'<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">{body}</table>>'


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, splines="ortho"):
    """The model's graph as a pydot.Dot (a pydot.Cluster when subgraph=True), drawn as Keras draws it.

    expand_nested has nothing to expand yet: bigcore models do not nest.
    """
    pydot = _import_pydot()
    if pydot is None:
        raise ImportError(f"model_to_dot needs pydot: {_INSTALL}")
    boxes, edges = _graph(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                          show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    for box in boxes:
        node = pydot.Node(box.key, label=_html_label(box.rows))
        node.set("fontname", "Helvetica")
        node.set("border", "0")
        node.set("margin", "0")
        dot.add_node(node)
    for s, d in edges:
        edge = pydot.Edge(boxes[s].key, boxes[d].key)
        edge.set("penwidth", "2")
        dot.add_edge(edge)
    return dot


# --- the matplotlib path: the tables measured and drawn, laid out by layout.py -------------------

_FONT = "DejaVu Sans"  # ships with matplotlib: same metrics everywhere, no missing-font fallback
_PAD, _SPACING = 10.0, 2.0  # Keras's table: cellpadding 10, Graphviz's default cellspacing 2 (pt)


def _run_widths(cell):
    mpl = _import_matplotlib()
    return [mpl.textpath.text_to_path.get_text_width_height_descent(
        s, mpl.font_manager.FontProperties(family=_FONT, size=cell.size, weight="bold" if bold else "normal"),
        ismath=False)[0] for s, bold in cell.runs]


def _box_geometry(rows):
    """(width, height, rows of (cell, cell width, cell height)) of one table, in points."""
    sized = [[(c, sum(_run_widths(c)) + 2 * _PAD, 1.25 * c.size + 2 * _PAD) for c in r] for r in rows]
    width = max(sum(w for _, w, _ in r) + _SPACING * (len(r) + 1) for r in sized)
    out = []
    for r in sized:
        extra = (width - sum(w for _, w, _ in r) - _SPACING * (len(r) + 1)) / len(r)
        h = max(h for _, _, h in r)
        out.append([(c, w + extra, h) for c, w, _ in r])
    height = sum(r[0][2] for r in out) + _SPACING * (len(out) + 1)
    return width, height, out


def _draw_table(ax, cx, cy, geometry):
    Rectangle = _import_matplotlib().patches.Rectangle
    width, height, rows = geometry
    left, top = cx - width / 2, cy + height / 2
    ax.add_patch(Rectangle((left, top - height), width, height, facecolor="black", edgecolor="black", zorder=2))
    y = top - _SPACING
    for row in rows:
        h = row[0][2]
        x = left + _SPACING
        for cell, w, _ in row:
            ax.add_patch(Rectangle((x, y - h), w, h, facecolor=cell.fill, edgecolor="black", lw=1, zorder=3))
            widths = _run_widths(cell)
            tx = x + (w - sum(widths)) / 2
            for (s, bold), rw in zip(cell.runs, widths):
                ax.text(tx, y - h / 2 - 0.36 * cell.size, s, fontsize=cell.size, family=_FONT, color=cell.color,
                        fontweight="bold" if bold else "normal", ha="left", va="baseline", zorder=4,
                        parse_math=False)
                tx += rw
            x += w + _SPACING
        y -= h + _SPACING


def _figure(boxes, edges, rankdir, splines):
    """The model drawn as a matplotlib Figure (not registered with pyplot), 1 data unit = 1 pt."""
    mpl = _import_matplotlib()
    geometry = [_box_geometry(b.rows) for b in boxes]
    centres, paths, (width, height) = layout([g[:2] for g in geometry], edges, rankdir, splines)
    fig = mpl.figure.Figure(figsize=(width / 72, height / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    for pts in paths:
        pts = [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]
        ax.add_patch(mpl.patches.FancyArrowPatch(path=mpl.path.Path(pts), arrowstyle="-|>,head_length=0.5,head_width=0.25",
                                     mutation_scale=20, lw=2, color="black", joinstyle="miter", zorder=1))
    for (cx, cy), g in zip(centres, geometry):
        _draw_table(ax, cx, cy, g)
    return fig


def _save(fig, to_file, ext, dpi):
    supported = fig.canvas.get_supported_filetypes()
    if ext not in supported:
        raise ValueError(f"Cannot write {to_file!r}: without Graphviz, plot_model writes "
                         f"{', '.join(sorted(supported))}. Received extension: {ext!r}")
    # Agg images stop at 2**16 pixels a side: lower the resolution of a very large drawing instead.
    dpi = min(dpi, 60000 / max(fig.get_size_inches()))
    # SVG keeps text as text, so it can be found; no hinting, so glyphs take the widths the boxes
    # were measured with (hinted text at 72-100 dpi runs wider and the runs of a cell touch)
    with _import_matplotlib().rc_context({"svg.fonttype": "none", "text.hinting": "no_hinting"}):
        fig.savefig(to_file, format=ext, dpi=dpi, facecolor="white")


# --- entry points -------------------------------------------------------------------------------

def _notebook_image(to_file, ext):
    try:
        from IPython import display  # noqa: PLC0415  (optional: shows the picture in a notebook)
    except ImportError:
        return None
    if ext in ("png", "jpg", "jpeg", "gif"):
        return display.Image(filename=to_file)
    return display.SVG(filename=to_file) if ext == "svg" else None


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho"):
    """Draws the model's graph into `to_file` (format from its extension: png, svg, pdf, dot, ...).

    Uses Graphviz when pydot and the `dot` program are installed, else draws the same picture with
    matplotlib. Returns an IPython Image when IPython is there (shown inline in notebooks), else None.
    `splines` is "ortho" (right angles, the Keras default) or another Graphviz value (straight lines
    without Graphviz). expand_nested has nothing to expand yet: bigcore models do not nest.
    """
    if rankdir not in ("TB", "BT", "LR", "RL"):
        raise ValueError(f'rankdir must be "TB", "LR", "BT" or "RL". Received: rankdir={rankdir!r}')
    show = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    boxes, edges = _graph(model, **show)
    to_file = os.fspath(to_file)
    ext = os.path.splitext(to_file)[1][1:].lower() or "png"
    if _have_graphviz() or (ext in ("dot", "gv") and _import_pydot() is not None):
        dot = model_to_dot(model, rankdir=rankdir, dpi=dpi, splines=splines, **show)
        dot.write(to_file, format="raw" if ext in ("dot", "gv") else ext)
    elif ext in ("dot", "gv"):
        raise ImportError(f"Writing a .{ext} file needs pydot: {_INSTALL}")
    elif _import_matplotlib() is not None:
        _save(_figure(boxes, edges, rankdir, splines), to_file, ext, dpi)
    else:
        raise ImportError(f"plot_model needs pydot and Graphviz, or matplotlib: {_INSTALL}")
    return _notebook_image(to_file, ext)


_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1")  # Keras's mode="auto" for EarlyStopping


def _best(name, values):
    """Index of the best value: the highest for accuracy-like metrics, else the lowest (a loss)."""
    pick = max if any(s in name for s in _HIGHER_IS_BETTER) else min
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    return pick(finite, key=lambda p: p[0])[1] if finite else None


def plot_history(history, to_file="history.png", metrics=None, mark_best=True):
    """Plots training curves: one panel per metric, train and validation values per epoch.

    `history` is what model.fit returns (a History) or its `.history` dict. `metrics` picks names
    ("loss", "accuracy", ...); default all. With mark_best, each panel marks its best epoch (from
    the validation curve when there is one, else the training curve; the highest value for
    accuracy-like metrics, the lowest otherwise, as EarlyStopping's mode="auto"). Writes `to_file`
    (format from its extension) unless it is None, and returns the matplotlib Figure. Validation
    run every k-th epoch (validation_freq) is drawn at epochs k, 2k, ...
    """
    logs = getattr(history, "history", history)
    if not hasattr(logs, "items") or not logs:
        raise ValueError("plot_history expects a History (what model.fit returns) or its non-empty .history "
                         f"dict. Received: {history!r}")
    names = list(dict.fromkeys(k[4:] if k.startswith("val_") else k for k in logs))
    metrics = names if metrics is None else [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in metrics if m not in names]
    if unknown or not metrics:
        raise ValueError(f"plot_history: no values recorded for {unknown or metrics}. Available: {names}")
    mpl = _import_matplotlib()
    if mpl is None:
        raise ImportError('plot_history needs matplotlib: run `pip install "bigcore[plot]"`')
    cols = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / cols)
    fig = mpl.figure.Figure(figsize=(4.5 * cols, 3.6 * rows), layout="constrained")
    n = max(len(v) for v in logs.values())
    epoch = list(getattr(history, "epoch", []))
    epochs = [e + 1 for e in epoch] if len(epoch) == n else list(range(1, n + 1))
    for i, name in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, i + 1)
        judged = None
        for key, label, color in ((name, "train", "C0"), ("val_" + name, "validation", "C1")):
            values = [float(v) for v in logs.get(key, [])]
            if values:
                at = [epochs[round((j + 1) * n / len(values)) - 1] for j in range(len(values))]
                ax.plot(at, values, marker="o", markersize=3, color=color, label=label)
                judged = (at, values, color)
        if mark_best and judged is not None:
            at, values, color = judged
            j = _best(name, values)
            if j is not None:
                ax.axvline(at[j], color="0.5", linestyle="--", linewidth=1, zorder=0)
                ax.plot([at[j]], [values[j]], marker="*", markersize=13, color=color, markeredgecolor="black",
                        linestyle="none", label=f"best: epoch {at[j]} ({values[j]:.4g})")
        ax.set_title(name)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("Training history")
    if to_file is not None:
        fig.savefig(os.fspath(to_file), dpi=100)
    return fig
