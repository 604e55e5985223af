"""plot_model / model_to_dot / plot_history: the graph drawn, through Graphviz and through matplotlib.

The graph description and the layout are pure Python and run everywhere; drawing needs the `plot`
extra (pydot, matplotlib) and, for the Graphviz path, the `dot` program: those tests skip without.
"""

import html
import importlib.util
import random
import re
import shutil
import struct
import sys

import pytest

import bigcore
from bigcore import layers
from bigcore.callbacks import History
from bigcore.utils import layout, plotting

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None
HAVE_PYDOT = importlib.util.find_spec("pydot") is not None
HAVE_DOT = HAVE_PYDOT and shutil.which("dot") is not None
needs_mpl = pytest.mark.skipif(not HAVE_MPL, reason="needs matplotlib (pip install 'bigcore[plot]')")
needs_pydot = pytest.mark.skipif(not HAVE_PYDOT, reason="needs pydot (pip install 'bigcore[plot]')")
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="needs pydot and Graphviz's dot program")

SHOW_ALL = dict(show_shapes=True, show_dtype=True, show_layer_names=True, show_layer_activations=True,
                show_trainable=True)
SHOW_NAMES = dict(SHOW_ALL, show_shapes=False, show_dtype=False, show_layer_activations=False,
                  show_trainable=False)


def sequential_model():
    return bigcore.Sequential([layers.Input(shape=(784,)), layers.Dense(64, activation="relu", name="hidden"),
                               layers.Dropout(0.2, name="drop"), layers.Dense(10, activation="softmax", name="probs")])


def branch_model():
    """Two Dense heads on one input, both model outputs."""
    inp = bigcore.Input(shape=(16,), name="features")
    a = layers.Dense(8, activation="relu", name="head_a")(inp)
    b = layers.Dense(4, name="head_b")(inp)
    return bigcore.Model(inp, [a, b], name="two_heads")


def merge_model():
    """A branch, a long skip edge and a three-way merge."""
    inp = bigcore.Input(shape=(16,), name="x")
    h = layers.Dense(32, activation="relu", name="trunk")(inp)
    a = layers.Dense(8, name="left")(h)
    b = layers.Dense(8, name="deep1")(layers.Dense(8, name="right")(h))
    out = layers.Dense(1, activation="sigmoid", name="out")(layers.Concatenate(name="concat")([a, b, h]))
    return bigcore.Model(inp, [out, layers.Dense(3, name="aux")(inp)], name="merge")


def random_model(seed, n):
    rnd = random.Random(seed)
    ts = [bigcore.Input(shape=(4,), name=f"in{seed}")]
    for i in range(n):
        srcs = rnd.sample(ts, min(rnd.choice([1, 1, 2, 3]), len(ts)))
        t = srcs[0] if len(srcs) == 1 else layers.Concatenate(name=f"cat{seed}_{i}")(srcs)
        ts.append(layers.Dense(4, name=f"d{seed}_{i}")(t))
    return bigcore.Model(ts[0], ts[-3:])


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG file"
    return struct.unpack(">II", data[16:24])


def box_text(box):
    return ["".join(s for s, _ in cell.runs) for row in box.rows for cell in row]


# --- the graph: what every path draws ------------------------------------------------------------

def test_graph_of_branch_model():
    boxes, edges = plotting._graph(branch_model(), **SHOW_ALL)
    assert [box_text(b)[0] for b in boxes] == ["features (InputLayer)", "head_a (Dense)", "head_b (Dense)"]
    assert edges == [(0, 1), (0, 2)]
    assert box_text(boxes[0])[1:] == ["Output shape: (None, 16)", "Output dtype: float32"]  # no weights
    assert box_text(boxes[1])[1:] == ["Activation: relu", "Input shape: (None, 16)", "Output shape: (None, 8)",
                                      "Output dtype: float32", "Trainable"]


def test_graph_of_sequential_has_no_input_box():
    boxes, edges = plotting._graph(sequential_model(), **SHOW_NAMES)
    assert [box_text(b) for b in boxes] == [["hidden (Dense)"], ["drop (Dropout)"], ["probs (Dense)"]]
    assert edges == [(0, 1), (1, 2)]


def test_graph_of_merge_model():
    boxes, edges = plotting._graph(merge_model(), **dict(SHOW_NAMES, show_shapes=True))
    names = [box_text(b)[0].split()[0] for b in boxes]
    named = {(names[s], names[d]) for s, d in edges}
    assert named == {("x", "trunk"), ("trunk", "left"), ("trunk", "right"), ("right", "deep1"), ("left", "concat"),
                     ("deep1", "concat"), ("trunk", "concat"), ("concat", "out"), ("x", "aux")}
    assert all(names.index(a) < names.index(b) for a, b in named)  # topological order
    concat = box_text(boxes[names.index("concat")])
    assert "Input shape: [(None, 8), (None, 8), (None, 32)]" in concat and "Output shape: (None, 48)" in concat


def test_shared_layer_draws_once_with_an_edge_back():
    x = bigcore.Input(shape=(4,), name="x")
    shared = layers.Dense(4, name="shared")
    model = bigcore.Model(x, shared(layers.Dense(4, name="middle")(shared(x))))
    boxes, edges = plotting._graph(model, **SHOW_NAMES)
    assert [box_text(b) for b in boxes] == [["x (InputLayer)"], ["shared (Dense)"], ["middle (Dense)"]]
    assert edges == [(0, 1), (1, 2), (2, 1)]
    centres, paths, _ = layout.layout([(100, 40)] * 3, edges, "TB", "ortho")
    assert centres[0][1] > centres[1][1] > centres[2][1]
    back = paths[2]  # laid out downwards, drawn from middle up into shared
    assert back[0][1] == centres[2][1] + 20 and back[-1][1] == centres[1][1] - 20


def test_label_options():
    boxes, _ = plotting._graph(sequential_model(), **dict(SHOW_NAMES, show_layer_names=False))
    assert box_text(boxes[0]) == ["Dense"]
    frozen = layers.Dense(2, name="frozen", trainable=False)
    model = bigcore.Sequential([layers.Input(shape=(3,)), frozen])
    boxes, _ = plotting._graph(model, **dict(SHOW_NAMES, show_trainable=True))
    assert box_text(boxes[0]) == ["frozen (Dense)", "Non-trainable"]


def test_unbuilt_model_and_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="has not yet been built"):
        plotting.plot_model(bigcore.Sequential([layers.Dense(3)]), tmp_path / "m.png")
    with pytest.raises(ValueError, match="rankdir"):
        plotting.plot_model(sequential_model(), tmp_path / "m.png", rankdir="XY")
    with pytest.raises(TypeError, match="Model or Sequential"):
        plotting.plot_model(layers.Dense(3), tmp_path / "m.png")


# --- the fallback layout (pure Python) -----------------------------------------------------------

@pytest.mark.parametrize("rankdir,splines", [("TB", "ortho"), ("LR", "ortho"), ("BT", "ortho"), ("RL", "ortho"),
                                             ("TB", "line"), ("LR", "polyline")])
def test_layout_keeps_boxes_apart_and_edges_on_their_boxes(rankdir, splines):
    for seed in range(30):
        rnd = random.Random(seed)
        n = rnd.randint(1, 25)
        sizes = [(rnd.uniform(80, 400), rnd.uniform(40, 120)) for _ in range(n)]
        edges = sorted({(rnd.randrange(d), d) for d in range(1, n) for _ in range(rnd.randint(1, 3))})
        centres, paths, (width, height) = layout.layout(sizes, edges, rankdir, splines)
        boxes = [(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2) for (cx, cy), (w, h) in zip(centres, sizes)]
        for i, a in enumerate(boxes):
            assert a[0] >= 0 and a[1] >= 0 and a[2] <= width and a[3] <= height
            for b in boxes[:i]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "boxes overlap"
        assert len(paths) == len(edges)
        for (s, d), pts in zip(edges, paths):
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                assert splines != "ortho" or abs(x0 - x1) < 1e-6 or abs(y0 - y1) < 1e-6, "ortho: right angles"

            def on_side(p, box):
                return box[0] - 1e-6 <= p[0] <= box[2] + 1e-6 and box[1] - 1e-6 <= p[1] <= box[3] + 1e-6

            assert on_side(pts[0], boxes[s]) and on_side(pts[-1], boxes[d])
            assert not any(on_side(p, boxes[d]) for p in pts[:-1]), "an edge reaches its box only at the end"


def test_layout_direction():
    sizes, edges = [(100, 50)] * 3, [(0, 1), (1, 2)]
    (a, b, c), _, (w, h) = layout.layout(sizes, edges, "TB", "ortho")
    assert a[1] > b[1] > c[1] and a[0] == b[0] == c[0] and h > w
    (a, b, c), _, (w, h) = layout.layout(sizes, edges, "LR", "line")
    assert a[0] < b[0] < c[0] and a[1] == b[1] == c[1] and w > h


# --- drawing: the Graphviz path ------------------------------------------------------------------

@needs_pydot
def test_model_to_dot():
    import pydot

    dot = plotting.model_to_dot(merge_model(), show_shapes=True)
    assert isinstance(dot, pydot.Dot)
    labels = {n.get_name(): n.get_label() for n in dot.get_nodes() if n.get_label()}
    assert len(labels) == 8 and len(dot.get_edges()) == 9
    assert any("<b>concat</b> (Concatenate)" in lab and "(None, 48)" in lab for lab in labels.values())
    assert all(e.get_source() in labels and e.get_destination() in labels for e in dot.get_edges())
    assert dot.get("rankdir") == "TB" and dot.get("splines") == "ortho"
    assert isinstance(plotting.model_to_dot(branch_model(), subgraph=True), pydot.Cluster)


def dot_graph(dot):
    """({node label text}, {(source name, destination name)}) of a pydot graph, tags stripped."""
    labels = {n.get_name(): n.get_label() for n in dot.get_nodes() if n.get_label()}
    name = {k: re.search(r"<b>(.*?)</b>", v).group(1) for k, v in labels.items()}
    text = {html.unescape(re.sub(r"<[^>]+>", "|", v)).strip("|<>") for v in labels.values()}
    return text, {(name[e.get_source()], name[e.get_destination()]) for e in dot.get_edges()}


@needs_pydot
@pytest.mark.parametrize("kind", ["sequential", "branch", "merge"])
def test_model_to_dot_matches_keras(keras, kind):
    if kind == "merge":
        ours = merge_model()
        x = keras.Input((16,), name="x")
        h = keras.layers.Dense(32, activation="relu", name="trunk")(x)
        a = keras.layers.Dense(8, name="left")(h)
        b = keras.layers.Dense(8, name="deep1")(keras.layers.Dense(8, name="right")(h))
        out = keras.layers.Dense(1, activation="sigmoid", name="out")(
            keras.layers.Concatenate(name="concat")([a, b, h]))
        theirs = keras.Model(x, [out, keras.layers.Dense(3, name="aux")(x)])
    elif kind == "sequential":
        ours = sequential_model()
        theirs = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu", name="hidden"),
                                   keras.layers.Dropout(0.2, name="drop"),
                                   keras.layers.Dense(10, activation="softmax", name="probs")])
    else:
        ours = branch_model()
        inp = keras.Input((16,), name="features")
        theirs = keras.Model(inp, [keras.layers.Dense(8, activation="relu", name="head_a")(inp),
                                   keras.layers.Dense(4, name="head_b")(inp)])
    for show in (SHOW_ALL, SHOW_NAMES, dict(SHOW_NAMES, show_layer_names=False, show_shapes=True)):
        assert dot_graph(plotting.model_to_dot(ours, **show)) == dot_graph(keras.utils.model_to_dot(theirs, **show))


@needs_dot
def test_plot_model_with_graphviz(tmp_path):
    for i, model in enumerate([sequential_model(), branch_model(), merge_model()]):
        path = tmp_path / f"m{i}.png"
        assert plotting.plot_model(model, path, show_shapes=True) is None or "IPython" in sys.modules
        w, h = png_size(path)
        assert 200 < w < 20000 and 200 < h < 20000 and path.stat().st_size > 5000
    svg = tmp_path / "m.svg"
    plotting.plot_model(merge_model(), svg, show_shapes=True)
    text = svg.read_text()
    assert all(name in text for name in ("trunk", "deep1", "concat", "Concatenate", "(None, 48)"))
    plotting.plot_model(branch_model(), tmp_path / "m.pdf")
    assert (tmp_path / "m.pdf").read_bytes()[:5] == b"%PDF-"


@needs_pydot
def test_dot_source_needs_only_pydot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` program: the source is still written
    plotting.plot_model(branch_model(), tmp_path / "m.dot")
    text = (tmp_path / "m.dot").read_text()
    assert text.startswith("digraph") and "<b>head_a</b> (Dense)" in text and text.count("->") == 2


# --- drawing: the matplotlib path ----------------------------------------------------------------

@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Forces the matplotlib path (no `dot` on PATH) and collects the figures it draws."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert not plotting._have_graphviz()
    figures, draw = [], plotting._figure

    def spy(*args, **kwargs):
        figures.append(draw(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(plotting, "_figure", spy)
    return figures


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@needs_mpl
def test_plot_model_with_matplotlib(tmp_path, drawn):
    plotting.plot_model(sequential_model(), tmp_path / "seq.png", show_shapes=True)
    w, h = png_size(tmp_path / "seq.png")
    assert 500 < w < 3000 and 500 < h < 3000
    drawn_text = texts(drawn[-1])
    for s in ("hidden", " (Dense)", "drop", " (Dropout)", "probs", "Input shape: ", "(None, 784)", "(None, 10)"):
        assert s in drawn_text
    assert len(drawn[-1].axes[0].patches) == 3 + 3 * 3 + 2  # per box: frame, title, 2 shapes; 2 arrows

    plotting.plot_model(sequential_model(), tmp_path / "seq_lr.png", show_shapes=True, rankdir="LR")
    w_lr, h_lr = png_size(tmp_path / "seq_lr.png")
    assert w_lr > 2 * w and h_lr < h / 2  # the same boxes side by side

    plotting.plot_model(branch_model(), tmp_path / "branch.png", show_shapes=True)
    w, h = png_size(tmp_path / "branch.png")
    assert w > h > 200  # two heads side by side under the input
    assert {"features", "head_a", "head_b", " (InputLayer)"} <= set(texts(drawn[-1]))

    plotting.plot_model(merge_model(), tmp_path / "merge.png", rankdir="LR", **SHOW_ALL)
    w, h = png_size(tmp_path / "merge.png")
    assert w > 3 * h
    assert {"concat", " (Concatenate)", "sigmoid", "Trainable", "float32"} <= set(texts(drawn[-1]))


def assert_drawn_png(path, min_ink=0.01, max_ink=0.6):
    """A real PNG with a white background and some dark drawing on it (text, frames, arrows)."""
    from matplotlib.image import imread

    png_size(path)
    rgb = imread(path)[..., :3]
    ink = (rgb.mean(axis=-1) < 0.5).mean()
    assert (rgb > 0.95).all(axis=-1).mean() > 0.3, "mostly white background"
    assert min_ink < ink < max_ink, f"dark pixels: {ink:.3f}"


@needs_mpl
@pytest.mark.parametrize("make", [sequential_model, merge_model])
@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_fallback_files_have_the_format_and_a_drawing(tmp_path, drawn, make, rankdir):
    """No `dot` on PATH: PNG, SVG and PDF by extension, each a real file of that format."""
    model = make()
    plotting.plot_model(model, tmp_path / "m.png", show_shapes=True, rankdir=rankdir, dpi=72)
    assert_drawn_png(tmp_path / "m.png")
    plotting.plot_model(model, tmp_path / "m.svg", show_shapes=True, rankdir=rankdir)
    svg = (tmp_path / "m.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and model.layers[-1].name in svg
    plotting.plot_model(model, tmp_path / "m.pdf", show_shapes=True, rankdir=rankdir)
    pdf = (tmp_path / "m.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 2000
    assert len(drawn) == 3


@needs_mpl
def test_matplotlib_output_formats(tmp_path, drawn):
    svg = tmp_path / "m.svg"
    plotting.plot_model(merge_model(), svg, show_shapes=True)
    text = svg.read_text()
    assert all(name in text for name in ("trunk", "deep1", "concat", "Concatenate", "(None, 48)"))
    plotting.plot_model(branch_model(), tmp_path / "m.pdf")
    assert (tmp_path / "m.pdf").read_bytes()[:5] == b"%PDF-"
    plotting.plot_model(branch_model(), tmp_path / "noext")  # no extension: PNG, as Keras
    png_size(tmp_path / "noext")
    plotting.plot_model(branch_model(), tmp_path / "lo.png", dpi=100)
    plotting.plot_model(branch_model(), tmp_path / "hi.png", dpi=200)
    (w1, h1), (w2, h2) = png_size(tmp_path / "lo.png"), png_size(tmp_path / "hi.png")
    assert abs(w2 - 2 * w1) <= 2 and abs(h2 - 2 * h1) <= 2
    with pytest.raises(ValueError, match="extension: 'xyz'"):
        plotting.plot_model(branch_model(), tmp_path / "m.xyz")
    if not HAVE_PYDOT:
        with pytest.raises(ImportError, match="needs pydot"):
            plotting.plot_model(branch_model(), tmp_path / "m.dot")


@needs_mpl
def test_matplotlib_draws_a_large_model(tmp_path, drawn):
    plotting.plot_model(random_model(3, 40), tmp_path / "big.png", show_shapes=True, dpi=50)
    w, h = png_size(tmp_path / "big.png")
    assert w > 300 and h > 300
    assert sum(t.startswith("d3_") for t in texts(drawn[-1])) >= 10


# --- missing packages --------------------------------------------------------------------------

def test_import_error_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)  # `import pydot` now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError) as err:
        plotting.plot_model(branch_model(), tmp_path / "m.png")
    assert 'pip install "bigcore[plot]"' in str(err.value) and "apt-get install graphviz" in str(err.value)
    assert not (tmp_path / "m.png").exists()
    with pytest.raises(ImportError, match=r"pip install \"bigcore\[plot\]\""):
        plotting.model_to_dot(branch_model())
    with pytest.raises(ImportError, match=r"pip install \"bigcore\[plot\]\""):
        plotting.plot_history({"loss": [1.0]}, tmp_path / "h.png")


# --- plot_history --------------------------------------------------------------------------------

def make_history(epochs=6):
    h = History()
    for e in range(epochs):
        h.on_epoch_end(e, {"loss": 1 / (e + 1), "accuracy": e / epochs, "val_loss": 1.5 / (e + 1),
                           "val_accuracy": e / epochs - 0.1})
    return h


@needs_mpl
def test_plot_history(tmp_path):
    path = tmp_path / "history.png"
    fig = plotting.plot_history(make_history(), path)
    w, h = png_size(path)
    assert w > h > 200
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax in fig.axes:
        assert ax.get_xlabel() == "Epoch" and ax.get_ylabel() == ax.get_title()
        assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["train", "validation"]
        train, val = curves(ax)["train"], curves(ax)["validation"]
        assert list(train.get_xdata()) == [1, 2, 3, 4, 5, 6] and list(val.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert fig.get_suptitle() == "Training history"
    assert list(curves(fig.axes[0])["validation"].get_ydata()) == make_history().history["val_loss"]


def curves(ax):
    return {line.get_label(): line for line in ax.get_lines()}


@needs_mpl
def test_plot_history_marks_the_best_epoch(tmp_path):
    """The best validation epoch: lowest for a loss, highest for an accuracy; train when no validation."""
    logs = {"loss": [1.0, 0.6, 0.4, 0.3, 0.25], "val_loss": [1.1, 0.7, 0.5, 0.6, 0.8],
            "accuracy": [0.5, 0.6, 0.7, 0.8, 0.9], "val_accuracy": [0.5, 0.7, 0.6, 0.65, 0.55],
            "mae": [3.0, 2.0, 2.5, 2.2, 2.1]}
    fig = plotting.plot_history(logs, tmp_path / "h.png")
    best = {}
    for ax in fig.axes:
        (label,) = [k for k in curves(ax) if k.startswith("best")]
        star = curves(ax)[label]
        best[ax.get_title()] = (label, list(star.get_xdata()), list(star.get_ydata()))
        vlines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert len(vlines) == 1 and list(vlines[0].get_xdata()) == [star.get_xdata()[0]] * 2
    assert best == {"loss": ("best: epoch 3 (0.5)", [3], [0.5]), "accuracy": ("best: epoch 2 (0.7)", [2], [0.7]),
                    "mae": ("best: epoch 2 (2)", [2], [2.0])}
    fig = plotting.plot_history(logs, None, mark_best=False)
    assert not any(k.startswith("best") for ax in fig.axes for k in curves(ax))
    assert_drawn_png(tmp_path / "h.png")


@needs_mpl
def test_plot_history_dict_and_choices(tmp_path):
    logs = {"loss": [3.0, 2.0, 1.5, 1.2], "val_loss": [3.5, 2.8], "mae": [1.0, 0.8, 0.7, 0.6]}
    fig = plotting.plot_history(logs, None, metrics="loss")
    assert len(fig.axes) == 1
    assert list(fig.axes[0].get_lines()[1].get_xdata()) == [2, 4]  # validated every 2nd epoch
    fig = plotting.plot_history(logs, tmp_path / "h.svg", metrics=["mae", "loss"])
    assert [ax.get_title() for ax in fig.axes] == ["mae", "loss"] and (tmp_path / "h.svg").stat().st_size > 1000
    fig = plotting.plot_history({f"m{i}": [1.0, 2.0] for i in range(5)}, None)
    assert len(fig.axes) == 5  # wraps at three a row


def test_plot_history_bad_input():
    with pytest.raises(ValueError, match="Available: \\['loss'\\]"):
        plotting.plot_history({"loss": [1.0], "val_loss": [1.0]}, None, metrics=["acc"])
    with pytest.raises(ValueError, match="History"):
        plotting.plot_history({}, None)
    with pytest.raises(ValueError, match="History"):
        plotting.plot_history([1.0, 2.0], None)
