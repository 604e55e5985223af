"""model.summary()'s Keras keywords: show_trainable (Y / N / -), expand_nested (a nested model's
layers under it), layer_range (regular expressions, both ends included), line_length and positions
(the column widths), and their refusals."""

import pytest

import bigcore
from bigcore import layers


def _model():
    inner = bigcore.Sequential([bigcore.Input((3,)), layers.Dense(4, name="d_in"), layers.BatchNormalization(name="bn")],
                               name="inner")
    inp = bigcore.Input((3,))
    out = layers.Dense(1, name="head")(layers.Dropout(0.1, name="drop")(inner(inp)))
    model = bigcore.Model(inp, out)
    inner.layers[0].trainable = False
    return model


def _lines(model, **kw):
    lines = []
    model.summary(print_fn=lines.append, **kw)
    return "\n".join(lines).splitlines()


def _row(lines, name):
    rows = [r for r in lines if r.lstrip(" └").startswith(name + " ")]
    assert len(rows) == 1, (name, lines)
    return rows[0]


def test_show_trainable_and_expand_nested():
    lines = _lines(_model(), show_trainable=True, expand_nested=True)
    assert lines[2].split()[-1] == "Trainable"
    assert _row(lines, "inner").endswith("Y")
    assert _row(lines, "d_in").startswith("   └ d_in (Dense)") and _row(lines, "d_in").endswith("N")
    assert _row(lines, "bn").endswith("Y")
    assert _row(lines, "drop").endswith("-")  # no weights
    plain = _lines(_model())
    assert "Trainable" not in plain[2] and not any("└" in r for r in plain)


def test_layer_range_and_widths():
    model = _model()
    lines = _lines(model, layer_range=["inner", "dr.*"], line_length=60)
    names = [r.split()[0] for r in lines[4:lines.index("=" * 60, 4)]]
    assert names == ["inner", "drop"]
    assert len(lines[1]) == 60
    lines = _lines(model, positions=[0.5, 0.8, 1.0])
    header = lines[2]
    assert header.index("Output Shape") == 36 and header.index("Param #") == 58  # 0.5 and 0.8 of 72 columns
    lines = _lines(model, positions=[30, 50, 60])
    assert lines[2].index("Output Shape") == 30 and len(lines[1]) == 60


@pytest.mark.parametrize("kw,match", [
    (dict(layer_range=["zzz", "head"]), "do not match"),
    (dict(layer_range=["inner"]), "length 2"),
    (dict(layer_range=[1, 2]), "string"),
    (dict(positions=[0.5, 1.0]), "one position per column"),
    (dict(positions=[30, 31, 60], line_length=60), "no room"),
])
def test_summary_refuses_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        _model().summary(print_fn=lambda s: None, **kw)
    with pytest.raises(TypeError):
        _model().summary(show_params=True)


def test_a_shared_layer_is_one_row_with_every_call_as_keras_prints(keras, seed):
    """Keras 3: one row per layer (a shared layer or nested model too, its parameters counted there),
    "Connected to" naming each input tensor as layer[node index][tensor index]."""
    def build(k):
        k.backend.clear_session()
        inp = k.Input((4,))
        emb = k.Model(inp, k.layers.Dense(3)(inp))
        a, b = k.Input((4,)), k.Input((4,))
        shared = k.layers.Dense(2)
        return k.Model([a, b], k.layers.Concatenate()([emb(a), emb(b), shared(a), shared(b)]))

    lines = []
    build(bigcore).summary(print_fn=lines.append, line_length=200)
    table = lines[0].splitlines()
    rules = [i for i, r in enumerate(table) if r and set(r) == {"="}]
    body = table[rules[0] + 1:rules[1]]
    rows = []
    for r in body:  # a wrapped cell goes on under its row
        if r.startswith(" "):
            rows[-1] += " " + r.strip()
        else:
            rows.append(r)
    klines = []
    build(keras).summary(print_fn=klines.append, line_length=200)
    text = "\n".join(klines)
    by_name = {r.split()[0]: r for r in rows}
    assert len(rows) == 5  # two inputs, the nested model, the shared Dense, the concatenation
    assert by_name["functional"].split()[-2:] == ["input_layer_1[0][0],", "input_layer_2[0][0]"]
    assert "15" in by_name["functional"].split() and "10" in by_name["dense_1"].split()
    assert by_name["concatenate"].split()[-4:] == ["functional[0][0],", "functional[1][0],", "dense_1[0][0],",
                                                  "dense_1[1][0]"]
    # the same rows as Keras's table of the same model (its references, as above, are what Keras 3 prints at
    # its default width; its rich table cuts at the terminal's width here, so they are not parsed from it)
    assert [r.split()[0] for r in rows] == [layer.name for layer in build(keras).layers]
    assert all(f"{name} " in text for name in by_name)
