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
