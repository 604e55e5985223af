"""One test harness for every layer: `run_layer_test`, in the spirit of Keras's run_layer_test.

A new layer costs one call plus a NumPy reference of its forward pass (float64, in
tests/reference*.py):

    run_layer_test(layers.Dense, {"units": 3, "activation": "tanh"}, (4, 5),
                   lambda w, x, mask: ref.dense_forward(x, w[0], w[1], "tanh"),
                   weight_shapes=[(5, 3), (3,)], keras=keras)

`reference(w, x, mask)` gets the layer's weights (float arrays as float64, int8 ones as they are),
the input the layer sees (float64; a list for several inputs) and its mask ((batch, T) bools or
None; a list for several inputs), and returns the output (a list for several outputs). A reference
that names a parameter `native` also gets the layer's own float32 outputs: the int8 recurrences
are checked step by step with the native previous state (teacher forcing, tests/reference_quant.py).

How inputs reach the layer. Each float input is looked up in a table by an Embedding, the
*probe*: ids (batch, positions) -> Embedding -> Reshape to the input's shape. Its table holds
the input values, one row per position, so the gradient of the table is the gradient of the
input, and the same SGD-step rule reads gradients of inputs and weights alike. A masked input
(3-D, masked=True) is fed by Embedding(mask_zero=True): masked positions take id 0, and row 0
holds one random vector for all of them (a leak through a masked step shows). Integer inputs
(int_inputs=vocabulary, for Embedding) go in as they are. The steps masked: see `mask_pattern`.

What is checked, in order (each is a function below that a test may also call alone):
  1. build and shape inference: compute_output_shape against the symbolic and the real outputs
     (batch dimension free), the number and shapes of the weights, trainable or not;
  2. forward against the reference, float32 against float64 (rtol, atol), on every float CPU
     path this machine runs;
  3. masking: which outputs carry a mask (`output_mask`, Keras's rule for the layer), and the
     masked loss: evaluate() of MSE on the outputs against the reference's masked mean;
  4. gradients (trainable layers, deterministic in training): the loss and the gradient of every
     trainable weight and of every float input, read off one SGD(learning_rate=1) step, against
     central differences of the float64 reference loss, weight regularizers included;
  5. training vs inference (training_differs=True, Dropout): inference is the reference, and
     training draws new randomness each step;
  6. thread-count invariance: 1 and 2 threads give bit-identical outputs and gradients;
  7. get_config / from_config through JSON: the same config, and the same outputs with the same
     weights; then a .bigcore save/load of a model holding the layer: the same outputs;
  8. Keras parity (keras=the `keras` fixture; skipped without Keras): Keras's layer class of the
     same name (or keras_class) built from bigcore's config accepts it and reads it alike; with the
     same weights it gives the same outputs (1e-5) and the same output masks; and after three
     Adam steps (keras_adam=True) the same losses and weights (1e-4).

The gradient rule lives here once (`sgd_gradients`, `fd_gradients`, `assert_gradients_close`):
other tests import it.
"""

import copy
import inspect
import json
import math
import os
import tempfile

import numpy as np
import pytest

import bigcore
import cpu_paths
import reference as ref
import reference_rnn as rref
from bigcore import optimizers

KERAS_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


# --------------------------------------------------------------------------- the gradient rule


def compile_for_gradients(model, loss="mse"):
    """SGD with learning_rate=1 and no momentum: after one step, w_after = w_before - gradient."""
    model.compile(optimizer=optimizers.SGD(learning_rate=1.0, momentum=0.0), loss=loss)


def sgd_gradients(model, x, y, sample_weight=None):
    """(loss before the step, the gradient of every weight in model.weights order) from one step of a
    model compiled by `compile_for_gradients`: gradient = w_before - w_after."""
    before = [w.astype(np.float64) for w in model.get_weights()]
    loss = model.train_on_batch(x, y, sample_weight=sample_weight)
    loss = loss[0] if isinstance(loss, list) else loss
    return loss, [b - a for b, a in zip(before, model.get_weights())]


def fd_gradients(loss_fn, weights, h=1e-6):
    """Central differences of loss_fn(list of float64 weights) wrt each weight."""
    ws = [np.asarray(w, np.float64) for w in weights]
    return [ref.numerical_grad(lambda wi, i=i: loss_fn(ws[:i] + [wi] + ws[i + 1:]), ws[i], h)
            for i in range(len(ws))]


def assert_gradients_close(got, want, names=None):
    """float32 native gradients against float64 ones: 1e-3 relative, 2e-4 of the largest entry."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        scale = max(np.abs(w).max(), 1e-3)
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=2e-4 * scale,
                                   err_msg=f"gradient of {names[i] if names else i}")


# --------------------------------------------------------------------------- data


def mask_pattern(B, T):
    """(B, T) bools, by row: holes at the start, middle and end; pre-padding; post-padding;
    fully masked; none masked; then again."""
    m = np.ones((B, T), bool)
    for b in range(B):
        k = b % 5
        if k == 0:
            m[b, [0, T // 2, T - 1]] = False
        elif k == 1:
            m[b, :max(1, T // 2)] = False
        elif k == 2:
            m[b, T - max(1, T // 2):] = False
        elif k == 3:
            m[b] = False
    return m


def random_weights(shapes_dtypes, rng):
    """Matrices ~ N(0, 1/rows), vectors and 2-row biases ~ N(0, 0.25): no state explodes and no
    bias is zero; int8 weights uniform in [-127, 127]."""
    out = []
    for shape, dtype in shapes_dtypes:
        if np.dtype(dtype).kind == "i":
            out.append(rng.integers(-127, 128, shape).astype(dtype))
            continue
        scale = 0.5 if len(shape) == 1 or shape[0] <= 2 else 1.0 / np.sqrt(shape[0])
        out.append((scale * rng.standard_normal(shape)).astype(dtype))
    return out


def pass_mask(x, mask):
    """Keras's rule for a layer that supports masking: the first input's mask, on every output."""
    return mask[0] if isinstance(mask, list) else mask


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _shapes(s):
    """compute_output_shape's answer as a list: one tuple, or a list of them."""
    return list(s) if isinstance(s, list) else [s]


class _Input:
    """One model input: its ids (or integer data), the probe that turns ids into the input, and
    the float64 values the layer sees."""

    def __init__(self, shape, rng, masked, vocab, scale, input_map=None):
        self.shape = tuple(shape)
        B, dims = self.shape[0], self.shape[1:]
        self.vocab, self.mask = vocab, None
        if vocab is not None:  # integer ids, the data itself
            self.ids = rng.integers(1, vocab, self.shape)
            if masked is not False:  # zeros where masked (ids (batch, T))
                self.ids[~(mask_pattern(B, dims[0]) if masked is True else np.asarray(masked, bool))] = 0
            self.table = None
            return
        positions = math.prod(dims[:-1]) if len(dims) > 1 else 1
        n = B * positions
        if masked is not False:
            if len(dims) != 2:
                raise ValueError(f"masked inputs are (batch, T, features); got {self.shape}")
            self.mask = mask_pattern(B, dims[0]) if masked is True else np.asarray(masked, bool)
            self.ids = np.where(self.mask, np.arange(1, n + 1).reshape(B, dims[0]), 0)
            n += 1
        else:
            self.ids = np.arange(n).reshape(B, positions)
        self.table = (scale * rng.standard_normal((n, dims[-1]))).astype(np.float32)
        if input_map is not None:  # the op's domain (log: positive values)
            self.table = np.asarray(input_map(self.table), np.float32)

    @property
    def data(self):
        """What the model is fed: float32 ids."""
        return self.ids.astype(np.float32)

    def values(self, table=None):
        """The input the layer sees, float64 (ids for integer inputs)."""
        if self.table is None:
            return self.ids
        t = np.asarray(self.table if table is None else table, np.float64)
        return t[self.ids].reshape(self.shape)

    def symbolic(self, lib):
        """(input tensor, the tensor fed to the layer, the probe Embedding or None) with `lib` =
        bigcore or keras: ids -> Embedding -> Reshape when the input is not (batch, T, features)."""
        ids_shape = self.ids.shape[1:]
        inp = lib.Input(ids_shape, dtype="int32") if lib is not bigcore else bigcore.Input(ids_shape)
        if self.table is None:
            return inp, inp, None
        emb = lib.layers.Embedding(self.table.shape[0], self.table.shape[1], mask_zero=self.mask is not None)
        x = emb(inp)
        if len(self.shape) != 3:
            x = lib.layers.Reshape(self.shape[1:])(x)
        return inp, x, emb


# --------------------------------------------------------------------------- the case


class LayerCase:
    """A layer class, its arguments, its inputs and its reference; builds models around it."""

    def __init__(self, layer_cls, init_kwargs, input_shape, reference, weight_shapes, output_mask=None,
                 masked=False, int_inputs=None, weights=None, input_scale=1.0, n_trainable=None,
                 rtol=1e-5, atol=1e-5, seed=0, call=None, train_reference=None, input_map=None):
        self.layer_cls, self.init_kwargs = layer_cls, init_kwargs
        self.call = call
        self.train_reference = train_reference
        self.multi = isinstance(input_shape, list)
        shapes = input_shape if self.multi else [input_shape]
        maskeds = masked if isinstance(masked, list) else [masked] * len(shapes)
        rng = np.random.default_rng(seed)
        self.inputs = [_Input(s, rng, m, int_inputs, input_scale, input_map) for s, m in zip(shapes, maskeds)]
        self.reference, self.output_mask_rule = reference, output_mask
        self.weight_shapes = [tuple(s) for s in weight_shapes]
        self.n_trainable = n_trainable
        self.rtol, self.atol = rtol, atol
        self.rng = rng
        layer, _, _ = self.build()
        self.weights = (weights(rng) if weights is not None else
                        random_weights([(w.shape, w.dtype) for w in layer.weights], rng))
        assert len(self.weights) == len(layer.weights), "weights() gives another number of weights"
        self.weights = [np.asarray(w, dtype=lw.dtype) for w, lw in zip(self.weights, layer.weights)]

    # -- models --
    def new_layer(self):
        return self.layer_cls(**copy.deepcopy(self.init_kwargs))

    def build(self, layer=None, set_weights=True):
        """(layer, model, symbolic outputs): probes -> layer, with the case's weights."""
        layer = layer or self.new_layer()
        ins, feeds, probes = zip(*(i.symbolic(bigcore) for i in self.inputs))
        out = self.apply(layer, feeds)
        model = bigcore.Model(list(ins) if self.multi else ins[0], out)
        self.probes = [p for p in probes]
        for p, i in zip(probes, self.inputs):
            if p is not None:
                p.set_weights([i.table])
        if set_weights and hasattr(self, "weights"):
            layer.set_weights(self.weights)
        return layer, model, _as_list(out)

    def apply(self, layer, feeds):
        """The layer called on the feeds: one tensor, a list, or as `call(layer, feeds)` says."""
        if self.call is not None:
            return self.call(layer, list(feeds))
        return layer(list(feeds) if self.multi else feeds[0])

    @property
    def x(self):
        data = [i.data for i in self.inputs]
        return data if self.multi else data[0]

    def tables(self):
        return [i.table for i in self.inputs if i.table is not None]

    # -- the reference --
    def _arg(self, values):
        return values if self.multi else values[0]

    def forward(self, weights=None, tables=None, native=None, training=False):
        """The reference's outputs (a list), float64; weights/tables default to the case's; training:
        the training-mode reference when the case has one (BatchNormalization's batch statistics)."""
        weights = self.weights if weights is None else weights
        weights = [np.asarray(w, np.float64) if np.asarray(w).dtype.kind == "f" else np.asarray(w) for w in weights]
        it = iter(tables) if tables is not None else None
        xs = [i.values(next(it) if (it is not None and i.table is not None) else None) for i in self.inputs]
        kw = {"native": native} if native is not None else {}
        fn = self.train_reference if training and self.train_reference is not None else self.reference
        return _as_list(fn(weights, self._arg(xs), self._arg([i.mask for i in self.inputs]), **kw))

    def takes_native(self):
        return "native" in inspect.signature(self.reference).parameters

    def output_masks(self, n_outputs):
        """The expected mask of each output ((B, T) bools or None), by the case's rule."""
        if self.output_mask_rule is None:
            return [None] * n_outputs
        xs = [i.values() for i in self.inputs]
        m = self.output_mask_rule(self._arg(xs), self._arg([i.mask for i in self.inputs]))
        m = list(m) if isinstance(m, list) else [m] * n_outputs
        assert len(m) == n_outputs, f"output_mask gives {len(m)} masks for {n_outputs} outputs"
        return m

    def targets(self, outputs):
        rng = np.random.default_rng(99)
        return [rng.standard_normal(o.shape).astype(np.float32) for o in outputs]

    def loss(self, outputs, targets, masks, weights=None, layer=None):
        """MSE summed over outputs, each the (masked) mean over its rows, plus the weight penalties."""
        assert len(outputs) == len(targets) == len(masks)
        assert all(m is None or o.shape[:-1] == m.shape for o, m in zip(outputs, masks)), "a mask per row"
        total = sum(rref.masked_mean(rref.mse_rows(t, o), m) for o, t, m in zip(outputs, targets, masks))
        if layer is not None:
            for w, value in zip(layer.weights, weights):
                if w.regularizer is not None and w.trainable:
                    cfg = w.regularizer.get_config()
                    total += ref.regularization_loss([value], cfg.get("l1", 0.0), cfg.get("l2", 0.0))
            act = getattr(layer, "activity_regularizer", None)
            if act is not None:  # Keras's activity penalty on the (first) output, over the batch
                y = np.asarray(outputs[0], np.float64)
                total += (act.l1 * np.abs(y).sum() + act.l2 * (y * y).sum()) / y.shape[0]
        return total

    def y(self, targets):
        return targets if len(targets) > 1 else targets[0]


def _predict(model, x):
    return [np.asarray(o) for o in _as_list(model.predict(x, verbose=0))]


# --------------------------------------------------------------------------- the checks


def check_build_and_shapes(case):
    layer = case.new_layer()
    assert not layer.built
    layer, model, outs = case.build(layer, set_weights=False)
    assert layer.built
    assert [w.shape for w in layer.weights] == case.weight_shapes, "weight shapes"
    assert layer.count_params() == sum(math.prod(s) for s in case.weight_shapes)
    n_trainable = len(case.weight_shapes) if case.n_trainable is None else case.n_trainable
    assert len(layer.trainable_weights) == n_trainable, "trainable weights"
    assert len(layer.non_trainable_weights) == len(case.weight_shapes) - n_trainable
    in_shapes = layer.input_shape if isinstance(layer.input_shape, list) else [layer.input_shape]
    assert all(s[0] is None for s in in_shapes)
    declared = _shapes(layer.compute_output_shape(in_shapes if case.multi else in_shapes[0]))
    assert [tuple(s) for s in declared] == [kt.shape for kt in outs], "compute_output_shape vs the outputs"
    assert all(s[0] is None for s in declared), "the batch dimension must stay free"
    B = 7
    fixed = [(B,) + tuple(s[1:]) for s in in_shapes]
    assert [tuple(s) for s in _shapes(layer.compute_output_shape(fixed if case.multi else fixed[0]))] == \
        [(B,) + tuple(s[1:]) for s in declared]
    layer.set_weights(case.weights)
    got = _predict(model, case.x)
    batch = case.inputs[0].shape[0]
    assert [g.shape for g in got] == [(batch,) + tuple(s[1:]) for s in declared], "real output shapes"


def check_forward(case, isas=True):
    """predict() against the reference; on every float CPU path this machine runs when isas."""
    layer, model, _ = case.build()
    paths = cpu_paths.supported_isas() if isas else [None]
    before = bigcore.config.cpu_features()["isa"]
    try:
        for isa in paths:
            if isa is not None:
                bigcore.config.set_cpu_isa(isa)
            got = _predict(model, case.x)
            want = case.forward(native=got if case.takes_native() else None)
            assert len(got) == len(want), "number of outputs"
            for i, (g, w) in enumerate(zip(got, want)):
                assert g.shape == w.shape, f"output {i}: shape {g.shape}, reference {w.shape}"
                np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.atol,
                                           err_msg=f"output {i} against the reference (CPU path {isa})")
    finally:
        bigcore.config.set_cpu_isa(before)


def check_masks(case):
    """Which outputs carry a mask, and the masked MSE that evaluate() reports."""
    layer, model, outs = case.build()
    want = case.output_masks(len(outs))
    for i, (kt, m) in enumerate(zip(outs, want)):
        assert (kt._mask is not None) == (m is not None), f"output {i}: mask expected: {m is not None}"
    got = _predict(model, case.x)
    targets = case.targets(got)
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    value = model.evaluate(case.x, case.y(targets), batch_size=len(got[0]), verbose=0)
    value = value[0] if isinstance(value, list) else value
    np.testing.assert_allclose(value, case.loss([g.astype(np.float64) for g in got], targets, want,
                                                case.weights, layer), rtol=1e-5, atol=1e-7)


def check_gradients(case):
    """The training loss and every trainable weight's and float input's gradient vs central differences."""
    layer, model, outs = case.build()
    compile_for_gradients(model)
    targets = case.targets(_predict(model, case.x))
    masks = case.output_masks(len(outs))
    trainable = [w for w in layer.weights if w.trainable]
    idx = [i for i, w in enumerate(layer.weights) if w.trainable]
    n_tab = len(case.tables())

    def loss_fn(ws):
        weights = list(case.weights)
        for i, w in zip(idx, ws[n_tab:]):
            weights[i] = w
        return case.loss(case.forward(weights, ws[:n_tab], training=True), targets, masks, weights, layer)

    start = case.tables() + [case.weights[i] for i in idx]
    value, grads = sgd_gradients(model, case.x, case.y(targets))
    by_weight = dict(zip(map(id, model.weights), grads))
    probe_ws = [p.weights[0] for p in case.probes if p is not None]
    got = [by_weight[id(w)] for w in probe_ws + trainable]
    np.testing.assert_allclose(value, loss_fn([np.asarray(w, np.float64) for w in start]), rtol=1e-5, atol=1e-7,
                               err_msg="training loss")
    names = [f"input {i}" for i in range(n_tab)] + [w.path for w in trainable]
    assert_gradients_close(got, fd_gradients(loss_fn, start), names)
    assert any(np.abs(g).max() > 1e-4 for g in got[n_tab:] or got), "every gradient is zero: the check tests nothing"


def check_training_differs(case):
    """Inference is the reference (check_forward); training steps draw new randomness each step."""
    _, model, _ = case.build()
    targets = case.targets(_predict(model, case.x))
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    inference = model.evaluate(case.x, case.y(targets), verbose=0)
    steps = [model.train_on_batch(case.x, case.y(targets)) for _ in range(3)]
    steps = [s[0] if isinstance(s, list) else s for s in steps]
    inference = inference[0] if isinstance(inference, list) else inference
    assert len(set(steps)) == 3, f"training losses repeat: {steps}"
    assert inference not in steps


def check_threads(case, trainable=True):
    """1 and 2 threads: bit-identical outputs and (trainable layers) gradients."""
    runs = []
    before = bigcore.config.get_num_threads()
    try:
        for n in (1, 2):
            bigcore.config.set_num_threads(n)
            _, model, _ = case.build()
            got = _predict(model, case.x)
            grads = []
            if trainable:
                compile_for_gradients(model)
                grads = sgd_gradients(model, case.x, case.y(case.targets(got)))[1]
            runs.append([g.tobytes() for g in got + grads])
    finally:
        bigcore.config.set_num_threads(before)
    assert runs[0] == runs[1], "1 and 2 threads differ"


def _json(cfg):
    return json.dumps(cfg, sort_keys=True)


def check_config_and_saving(case):
    """get_config -> JSON -> from_config: the same config and outputs; a .bigcore round trip too."""
    layer, model, _ = case.build()
    cfg = layer.get_config()
    text = _json(cfg)  # a config is JSON: the file format stores it so
    clone = case.layer_cls.from_config(json.loads(text))
    assert _json(clone.get_config()) == text, "from_config(get_config()) gives another config"
    _, model2, _ = case.build(clone)
    want = _predict(model, case.x)
    for a, b in zip(want, _predict(model2, case.x)):
        np.testing.assert_array_equal(a, b, err_msg="the clone computes another output")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.bigcore")
        model.save(path)
        loaded = bigcore.models.load_model(path)
    again = [lay for lay in loaded.layers if lay.name == layer.name]
    assert len(again) == 1 and type(again[0]) is type(layer)
    assert _json(again[0].get_config()) == text
    for a, b in zip(want, _predict(loaded, case.x)):
        np.testing.assert_array_equal(a, b, err_msg="the loaded model computes another output")


# --------------------------------------------------------------------------- Keras


def _keras_config(keras, cfg):
    """bigcore's config as Keras's from_config takes it: nested layers name their module."""
    if isinstance(cfg, dict):
        out = {k: _keras_config(keras, v) for k, v in cfg.items() if k != "input_shape"}
        if "class_name" in out and "config" in out and hasattr(keras.layers, out["class_name"]):
            out["module"] = "keras.layers"
        return out
    if isinstance(cfg, list):  # e.g. StackedRNNCells's cells
        return [_keras_config(keras, v) for v in cfg]
    return cfg


def _same_meaning(ours, theirs, path):
    """Keras reads every value of our config as we wrote it (serialized objects by class and
    their own keys; Keras may add keys of its own)."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), f"{path}: {ours} vs {theirs}"
        if "class_name" in ours:
            assert ours["class_name"] == theirs["class_name"], f"{path}: {ours} vs {theirs}"
            ours, theirs = ours.get("config", {}), theirs.get("config", {})
            if not isinstance(ours, dict):  # a function's config is its (registered) name
                assert ours == theirs, f"{path}: {ours!r} vs Keras's {theirs!r}"
                return
        for k, v in ours.items():
            if k == "name":  # Keras renames what it wraps ("forward_lstm")
                continue
            if v is None and k not in theirs:  # Keras leaves out unset options (activity_regularizer)
                continue
            assert k in theirs, f"{path}.{k}: Keras has no such key"
            _same_meaning(v, theirs[k], f"{path}.{k}")
    elif isinstance(ours, (list, tuple)):
        assert list(ours) == list(theirs) or all(
            _same_meaning(a, b, path) is None for a, b in zip(ours, theirs)), f"{path}: {ours} vs {theirs}"
    elif isinstance(ours, float):
        assert theirs == pytest.approx(ours), f"{path}: {ours} vs {theirs}"
    else:
        assert ours == theirs, f"{path}: {ours!r} vs Keras's {theirs!r}"


def check_keras(case, keras, keras_class=None, adam=True, adam_skip=()):
    layer, model, outs = case.build()
    cfg = layer.get_config()
    kcls = keras_class if isinstance(keras_class, type) else getattr(keras.layers, keras_class or case.layer_cls.__name__)
    klayer = kcls.from_config(_keras_config(keras, cfg))
    kcfg = klayer.get_config()
    for k, v in cfg.items():
        if k not in ("name", "input_shape") and k in kcfg:
            _same_meaning(v, kcfg[k], k)
    kins, kfeeds, kprobes = zip(*(i.symbolic(keras) for i in case.inputs))
    kout = _as_list(case.apply(klayer, kfeeds))
    km = keras.Model(list(kins) if case.multi else kins[0], kout if len(kout) > 1 else kout[0])
    for kp, i in zip(kprobes, case.inputs):
        if kp is not None:
            kp.set_weights([i.table])
    klayer.set_weights(case.weights)
    ids = [i.ids.astype(np.int32) for i in case.inputs]
    kx = ids if case.multi else ids[0]
    ours = _predict(model, case.x)
    theirs = [np.asarray(o) for o in _as_list(km.predict(kx, verbose=0))]
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"output {i} against Keras")
    for i, (a, b) in enumerate(zip(outs, kout)):
        assert (a._mask is not None) == (getattr(b, "_keras_mask", None) is not None), \
            f"output {i}: Keras {'sets' if a._mask is None else 'drops'} the mask"
    if not adam:
        return
    targets = case.targets(ours)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    for step in range(3):
        got = model.train_on_batch(case.x, case.y(targets))
        want = km.train_on_batch(kx, case.y(targets))
        # several outputs: [loss, each output's loss], as Keras lists them
        got, want = (v if isinstance(v, list) else [v] for v in (got, want))
        assert got == pytest.approx([float(w) for w in want], rel=1e-4, abs=1e-6), f"losses at step {step}"
    pairs = [(p, kp) for p, kp in zip(case.probes, kprobes) if p is not None] + [(layer, klayer)]
    for ours_l, theirs_l in pairs:
        for w, a, b in zip(ours_l.weights, ours_l.get_weights(), theirs_l.get_weights()):
            if w.path.endswith(adam_skip):
                continue
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"{w.path} after 3 Adam steps")


def optional_keras(request):
    """The `keras` fixture's module, or None where Keras is not there (or --no-parity): the Keras
    checks are then left out and the rest still runs."""
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


# --------------------------------------------------------------------------- the entry point


def run_layer_test(layer_cls, init_kwargs, input_shape, reference, *, weight_shapes, output_mask=None,
                   masked=False, int_inputs=None, weights=None, input_scale=1.0, n_trainable=None,
                   rtol=1e-5, atol=1e-5, gradients=True, training_differs=False, keras=None,
                   keras_class=None, keras_adam=True, keras_adam_skip=(), seed=0, call=None, train_reference=None,
                   input_map=None):
    """Runs every check of this module's docstring on one layer configuration; returns the LayerCase.

    layer_cls, init_kwargs: the layer (a fresh deep copy of init_kwargs for each model built).
    input_shape: the input's shape with the batch first, e.g. (4, 5); a list of shapes for a merge.
    reference(w, x, mask): the float64 forward (module docstring).
    weight_shapes: the shapes of layer.weights, in order; n_trainable: how many are trainable
        (default all).
    output_mask(x, mask): the mask Keras gives each output (one for all, or a list); default none.
    masked: feed masks (3-D float inputs; for integer inputs: zeros in the ids): True for
        `mask_pattern`, or a (batch, T) array of bools; a list per input.
    int_inputs: the vocabulary size when the input is integer ids (Embedding).
    weights(rng): the layer's weight values (default: `random_weights`).
    gradients: False for inference-only layers (int8, sparse); training_differs: Dropout.
    keras: the Keras module (the `keras` fixture) for parity, or None; keras_class: Keras's name of
        the layer when it differs, or a Keras layer class (a custom layer written with keras.ops);
        keras_adam: compare three Adam steps too.
    call(layer, feeds): how to call the layer on its (symbolic) inputs, for bigcore and Keras alike
        (default: layer(feeds[0]), or layer(feeds) for several); e.g. lambda l, f: l(f[0], f[1]) for
        layers called with positional or keyword tensors (MultiHeadAttention).
    keras_adam_skip: path suffixes ("key/bias") of weights whose gradient is zero in exact arithmetic (attention's
        key bias: softmax ignores a constant added to a row); Adam turns each side's rounding noise
        into steps of up to the learning rate, so their values after Adam are not compared (the
        gradient check has already found their gradient zero).
    train_reference(w, x, mask): the forward in training mode where it differs from inference and is
        deterministic (BatchNormalization's batch statistics); the gradient check differentiates it.
    input_map(table): maps each float input's random values (float32, one row per position) into the
        layer's domain (log, sqrt: positive values); the mapped values are the input.
    """
    case = LayerCase(layer_cls, init_kwargs, input_shape, reference, weight_shapes, output_mask, masked,
                     int_inputs, weights, input_scale, n_trainable, rtol, atol, seed, call, train_reference,
                     input_map)
    trainable = gradients and bool(case.new_layer().trainable) and (n_trainable is None or n_trainable > 0)
    check_build_and_shapes(case)
    check_forward(case)
    check_masks(case)
    if trainable and not training_differs:
        check_gradients(case)
    if training_differs:
        check_training_differs(case)
    check_threads(case, trainable=trainable and not training_differs)
    check_config_and_saving(case)
    if keras is not None:
        check_keras(case, keras, keras_class, adam=keras_adam and trainable and not training_differs,
                    adam_skip=tuple(keras_adam_skip))
    return case
