"""Every public layer with weights, in Keras's files both ways: the same one-layer model is built
in bigcore and in Keras 3 from one recipe; each library's .keras archive loads in the other and
predicts the same, each library's .weights.h5 loads into the other's model and predicts the same,
and both weights files hold the same HDF5 key tree, datasets of the same shapes (the check that
catches a layer whose variables drift to another path). After an Adam step, each library's archive
resumes in the other with the same next step (the optimizer's slots in Keras's variable order).
Also: inner functional models' references, attentions in a custom layer's list, bigcore's earlier
attention layout, a backward_layer of one's own, and a recorded training=False."""

import inspect

import numpy as np
import pytest

import bigcore
from keras_file_checks import close, h5_layout
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

h5py = pytest.importorskip("h5py")
ATOL = 1e-4


def _adapted_normalization(lib):
    norm = lib.layers.Normalization()
    norm.adapt(np.random.default_rng(5).normal(2.0, 3.0, (40, 4)).astype(np.float32))
    return norm


def _adapted_normalization_axes(lib):
    norm = lib.layers.Normalization(axis=(1, 2))
    norm.adapt(np.random.default_rng(6).normal(-1.0, 2.0, (30, 3, 4)).astype(np.float32))
    return norm


def _discretization(lib):
    return lib.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])


def _lora(layer):
    """A layer whose LoRA is enabled once the model is built (Keras saves the merged kernel)."""
    layer.enable_lora_after_build = 2
    return layer


def _nested_gqa(lib):
    """GroupQueryAttention in a functional model used as a layer: its class's key in an inner
    model's layout too."""
    inp = lib.Input((4, 6))
    return lib.Model(inp, lib.layers.Dense(2)(lib.layers.GroupQueryAttention(3, 2, 1)(inp, inp)))


# name -> (input shape without the batch, input dtype, recipe(lib) -> layer, call keywords)
# A recipe builds the layer from the library `lib` (bigcore or keras) with the same arguments.
SPECS = {
    "Dense": ((5,), "float32", lambda k: k.layers.Dense(3, activation="tanh")),
    "Dense_no_bias": ((5,), "float32", lambda k: k.layers.Dense(3, use_bias=False)),
    "Dense_lora": ((5,), "float32", lambda k: _lora(k.layers.Dense(3))),
    "EinsumDense": ((4, 5), "float32", lambda k: k.layers.EinsumDense("abc,cd->abd", output_shape=(None, 3),
                                                                      bias_axes="d")),
    "EinsumDense_lora": ((4, 5), "float32", lambda k: _lora(k.layers.EinsumDense("abc,cd->abd", output_shape=(None, 3),
                                                                                 bias_axes="d"))),
    "Embedding": ((4,), "int32", lambda k: k.layers.Embedding(10, 3)),
    "Embedding_lora": ((4,), "int32", lambda k: _lora(k.layers.Embedding(10, 3))),
    "ReversibleEmbedding": ((4,), "int32", lambda k: k.layers.ReversibleEmbedding(10, 3, tie_weights=False)),
    "PReLU": ((4, 3), "float32", lambda k: k.layers.PReLU()),
    "Conv1D": ((6, 3), "float32", lambda k: k.layers.Conv1D(4, 3)),
    "Conv2D": ((5, 5, 2), "float32", lambda k: k.layers.Conv2D(3, 3, padding="same")),
    "Conv3D": ((4, 4, 4, 2), "float32", lambda k: k.layers.Conv3D(3, 2)),
    "Conv1DTranspose": ((5, 3), "float32", lambda k: k.layers.Conv1DTranspose(2, 3, strides=2)),
    "Conv2DTranspose": ((4, 4, 2), "float32", lambda k: k.layers.Conv2DTranspose(3, 3, strides=2)),
    "Conv3DTranspose": ((3, 3, 3, 2), "float32", lambda k: k.layers.Conv3DTranspose(2, 2)),
    "SeparableConv1D": ((6, 3), "float32", lambda k: k.layers.SeparableConv1D(4, 3, depth_multiplier=2)),
    "SeparableConv2D": ((5, 5, 2), "float32", lambda k: k.layers.SeparableConv2D(3, 3, depth_multiplier=2)),
    "DepthwiseConv1D": ((6, 3), "float32", lambda k: k.layers.DepthwiseConv1D(3, depth_multiplier=2)),
    "DepthwiseConv2D": ((5, 5, 2), "float32", lambda k: k.layers.DepthwiseConv2D(3, depth_multiplier=2)),
    "BatchNormalization": ((4,), "float32", lambda k: k.layers.BatchNormalization()),
    "BatchNormalization_no_center": ((3, 4), "float32", lambda k: k.layers.BatchNormalization(center=False)),
    "LayerNormalization_no_scale": ((3, 4), "float32", lambda k: k.layers.LayerNormalization(scale=False)),
    "LayerNormalization": ((3, 4), "float32", lambda k: k.layers.LayerNormalization()),
    "GroupNormalization": ((3, 4), "float32", lambda k: k.layers.GroupNormalization(groups=2)),
    "RMSNormalization": ((3, 4), "float32", lambda k: k.layers.RMSNormalization()),
    "Normalization": ((4,), "float32", _adapted_normalization),
    "Normalization_axes": ((3, 4), "float32", _adapted_normalization_axes),
    "Normalization_given": ((4,), "float32", lambda k: k.layers.Normalization(mean=[0.5, 1.0, -1.0, 2.0],
                                                                              variance=[1.0, 4.0, 0.25, 2.0])),
    "Normalization_invert": ((4,), "float32", lambda k: k.layers.Normalization(mean=[0.5, 1.0, -1.0, 2.0],
                                                                               variance=[1.0, 4.0, 0.25, 2.0],
                                                                               invert=True)),
    "Discretization": ((4,), "float32", _discretization),
    "SimpleRNN": ((5, 3), "float32", lambda k: k.layers.SimpleRNN(4)),
    "LSTM": ((5, 3), "float32", lambda k: k.layers.LSTM(4, return_sequences=True)),
    "GRU": ((5, 3), "float32", lambda k: k.layers.GRU(4)),
    "RNN_SimpleRNNCell": ((5, 3), "float32", lambda k: k.layers.RNN(k.layers.SimpleRNNCell(4))),
    "RNN_LSTMCell": ((5, 3), "float32", lambda k: k.layers.RNN(k.layers.LSTMCell(4))),
    "RNN_GRUCell": ((5, 3), "float32", lambda k: k.layers.RNN(k.layers.GRUCell(4))),
    "StackedRNNCells": ((5, 3), "float32", lambda k: k.layers.RNN(k.layers.StackedRNNCells(
        [k.layers.LSTMCell(4), k.layers.GRUCell(3), k.layers.SimpleRNNCell(2)]))),
    "Bidirectional": ((5, 3), "float32", lambda k: k.layers.Bidirectional(k.layers.LSTM(4))),
    "BidirectionalGRU": ((5, 3), "float32", lambda k: k.layers.Bidirectional(k.layers.GRU(2, return_sequences=True),
                                                                             merge_mode="sum")),
    "TimeDistributed": ((3, 4), "float32", lambda k: k.layers.TimeDistributed(k.layers.Dense(2))),
    "ConvLSTM1D": ((3, 5, 2), "float32", lambda k: k.layers.ConvLSTM1D(2, 3)),
    "ConvLSTM2D": ((3, 4, 4, 2), "float32", lambda k: k.layers.ConvLSTM2D(2, 3, padding="same")),
    "ConvLSTM3D": ((2, 3, 3, 3, 1), "float32", lambda k: k.layers.ConvLSTM3D(2, 2)),
    "MultiHeadAttention": ((4, 6), "float32", lambda k: k.layers.MultiHeadAttention(2, 3)),
    "MultiHeadAttention_no_bias": ((4, 6), "float32", lambda k: k.layers.MultiHeadAttention(2, 3, use_bias=False)),
    "GroupQueryAttention": ((4, 6), "float32", lambda k: k.layers.GroupQueryAttention(3, 4, 2)),
    "GroupQueryAttention_no_bias": ((4, 6), "float32", lambda k: k.layers.GroupQueryAttention(2, 2, 1,
                                                                                              use_bias=False)),
    "Functional_GroupQueryAttention": ((4, 6), "float32", _nested_gqa),
    "Attention": ((4, 3), "float32", lambda k: k.layers.Attention(use_scale=True)),
    "AdditiveAttention": ((4, 3), "float32", lambda k: k.layers.AdditiveAttention(use_scale=True)),
    "SpectralNormalization": ((5,), "float32", lambda k: k.layers.SpectralNormalization(k.layers.Dense(3))),
    "SpectralNormalization_conv": ((5, 5, 2), "float32", lambda k: k.layers.SpectralNormalization(
        k.layers.Conv2D(3, 3))),
    "Bidirectional_SimpleRNN": ((5, 3), "float32", lambda k: k.layers.Bidirectional(k.layers.SimpleRNN(
        3, return_sequences=True), merge_mode="ave")),
    "Bidirectional_RNN_GRUCell": ((5, 3), "float32", lambda k: k.layers.Bidirectional(k.layers.RNN(
        k.layers.GRUCell(2), return_sequences=True))),
    "Bidirectional_backward_layer": ((5, 3), "float32", lambda k: k.layers.Bidirectional(
        k.layers.LSTM(3), backward_layer=k.layers.LSTM(3, go_backwards=True, recurrent_activation="hard_sigmoid"))),
    "ReversibleEmbedding_tied": ((4,), "int32", lambda k: k.layers.ReversibleEmbedding(10, 3)),
    "MultiHeadAttention_axes": ((2, 3, 4), "float32", lambda k: k.layers.MultiHeadAttention(2, 2, attention_axes=(1, 2))),
    "TimeDistributed_LSTM": ((2, 3, 4), "float32", lambda k: k.layers.TimeDistributed(k.layers.LSTM(2))),
    "TimeDistributed_conv": ((2, 5, 5, 2), "float32", lambda k: k.layers.TimeDistributed(k.layers.Conv2D(2, 3))),
    "STFTSpectrogram": ((64, 1), "float32", lambda k: k.layers.STFTSpectrogram(frame_length=16, frame_step=8,
                                                                               fft_length=16, window=None)),
}

# Attention layers: query and value the one input (MultiHeadAttention's positional pair, Attention's list).
_SELF_CALL = {"MultiHeadAttention", "GroupQueryAttention"}
_LIST_CALL = {"Attention", "AdditiveAttention"}
# Preprocessing layers alone make no native model: a Dense after them.
_DENSE_AFTER = {"Normalization", "Discretization"}  # (by the key's first word)

# Public layers without variables of their own (in either library's files nothing but their group).
WEIGHTLESS = {
    "Activation", "ActivityRegularization", "Add", "AlphaDropout", "AugMix", "AutoContrast", "Average",
    "CategoryEncoding", "CenterCrop", "Concatenate", "Cropping1D", "Cropping2D", "Cropping3D", "CutMix", "Dot",
    "Dropout", "ELU", "Equalization", "Flatten", "GaussianDropout", "GaussianNoise", "HashedCrossing", "Hashing",
    "Identity", "InputLayer", "Lambda", "Layer", "LeakyReLU", "Masking", "Maximum", "MelSpectrogram", "Minimum",
    "MixUp", "Multiply", "Permute", "Pipeline", "RandAugment", "ReLU", "RepeatVector", "Rescaling", "Reshape",
    "Resizing", "Softmax", "Solarization", "Subtract", "UnitNormalization", "Wrapper",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
}
# Covered elsewhere: the lookups' tf_idf weights in tests/test_keras_files.py (text models).
ELSEWHERE = {"StringLookup", "IntegerLookup", "TextVectorization"}
_WEIGHTLESS_PREFIXES = ("Random", "Adaptive", "Global", "MaxPool", "AveragePooling", "AvgPool", "UpSampling",
                        "ZeroPadding")


def _covered(name):
    spec_layers = {key.split("_")[-1] for key in SPECS} | {key.split("_")[0] for key in SPECS} | {"RNN", "GRUCell", "LSTMCell", "SimpleRNNCell"}
    aliases = {"Convolution": "Conv", "SeparableConvolution": "SeparableConv", "GroupedQueryAttention":
               "GroupQueryAttention"}
    for long, short in aliases.items():
        if name.startswith(long):
            name = short + name[len(long):]
    return (name in spec_layers or name in WEIGHTLESS or name in ELSEWHERE or name.startswith(_WEIGHTLESS_PREFIXES))


def test_every_public_layer_is_in_the_sweep():
    public = [n for n, c in vars(bigcore.layers).items()
              if not n.startswith("_") and inspect.isclass(c) and issubclass(c, bigcore.layers.Layer)]
    missing = sorted(n for n in public if not _covered(n))
    assert not missing, f"public layers neither swept nor listed as weightless: {missing}"


def _build(lib, key):
    shape, dtype, recipe = SPECS[key]
    inp = lib.Input(shape, dtype=dtype)
    layer = recipe(lib)
    kind = key.split("_")[0]
    out = layer(inp, inp) if kind in _SELF_CALL else layer([inp, inp]) if kind in _LIST_CALL else layer(inp)
    if kind in _DENSE_AFTER:
        out = lib.layers.Dense(2)(out)
    model = lib.Model(inp, out)
    rank = getattr(layer, "enable_lora_after_build", None)
    if rank is not None:
        layer.enable_lora(rank)
    return model


def _data(key, n=3):
    shape, dtype, _ = SPECS[key]
    rng = np.random.default_rng(11)
    if dtype == "int32":
        return rng.integers(0, 10, (n,) + shape).astype(np.int32)
    return rng.normal(size=(n,) + shape).astype(np.float32)


def _perturb(model, seed):
    """Moves every float variable off its initial value (a zero bias or a unit scale would hide a
    swap), keeping variances positive."""
    rng = np.random.default_rng(seed)
    out = []
    for w in model.get_weights():
        w = np.asarray(w)
        if w.dtype.kind == "f":
            w = w + (0.2 * np.abs(rng.normal(size=w.shape))).astype(w.dtype)
        out.append(w)
    model.set_weights(out)


def _key_tree(path):
    """Every group and dataset path of an HDF5 file (the groups of layers without variables too)."""
    out = set()
    with h5py.File(path, "r") as f:
        f.visit(out.add)
    return out


def _predict(model, x):
    return model.predict(x, verbose=0)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_layer_files_both_ways(keras, tmp_path, seed, key):
    x = _data(key)
    ours, km = _build(bigcore, key), _build(keras, key)
    _perturb(ours, 1)
    _perturb(km, 2)
    # 1. the same datasets at the same paths, with the same shapes
    ours.save_weights(tmp_path / "o.weights.h5")
    km.save_weights(tmp_path / "k.weights.h5")
    assert h5_layout(tmp_path / "o.weights.h5") == h5_layout(tmp_path / "k.weights.h5")
    assert _key_tree(tmp_path / "o.weights.h5") == _key_tree(tmp_path / "k.weights.h5")
    # 2. bigcore's .keras in Keras
    ours.save(tmp_path / "o.keras")
    close(_predict(keras.saving.load_model(tmp_path / "o.keras"), x), _predict(ours, x), ATOL)
    # 3. Keras's .keras in bigcore
    km.save(tmp_path / "k.keras")
    close(_predict(bigcore.saving.load_model(tmp_path / "k.keras"), x), _predict(km, x), ATOL)
    # 4. weights files into the other library's model of the same recipe
    km2 = _build(keras, key)
    km2.load_weights(tmp_path / "o.weights.h5")
    close(_predict(km2, x), _predict(ours, x), ATOL)
    ours2 = _build(bigcore, key)
    ours2.load_weights(tmp_path / "k.weights.h5")
    close(_predict(ours2, x), _predict(km, x), ATOL)


def _inner_model_twice(lib):
    """An inner functional model called twice, its outputs used after it and as model outputs: Keras
    counts the inner model's built-in node in output_layers' references (node 1, 2), not in calls'."""
    inp = lib.Input((4, 3))
    inner = lib.Model(inp, lib.layers.Dense(3)(lib.layers.GroupQueryAttention(2, 2, 1)(inp, inp)))
    a, b = lib.Input((4, 3)), lib.Input((4, 3))
    ha, hb = inner(a), inner(b)
    return lib.Model([a, b], [lib.layers.Add()([ha, hb]), hb, ha])


def test_inner_functional_model_called_twice_both_ways(keras, tmp_path, seed):
    rng = np.random.default_rng(3)
    x = [rng.normal(size=(2, 4, 3)).astype(np.float32) for _ in range(2)]
    ours, km = _inner_model_twice(bigcore), _inner_model_twice(keras)
    _perturb(ours, 1)
    _perturb(km, 2)
    ours.save(tmp_path / "o.keras")
    km.save(tmp_path / "k.keras")
    for got, want in zip(_predict(keras.saving.load_model(tmp_path / "o.keras"), x), _predict(ours, x)):
        close(got, want, ATOL)
    for got, want in zip(_predict(bigcore.saving.load_model(tmp_path / "k.keras"), x), _predict(km, x)):
        close(got, want, ATOL)
    ours.save_weights(tmp_path / "o.weights.h5")
    km.save_weights(tmp_path / "k.weights.h5")
    assert h5_layout(tmp_path / "o.weights.h5") == h5_layout(tmp_path / "k.weights.h5")
    assert _key_tree(tmp_path / "o.weights.h5") == _key_tree(tmp_path / "k.weights.h5")


@pytest.mark.parametrize("key", ["MultiHeadAttention", "GroupQueryAttention"])
def test_earlier_bigcore_attention_layout_still_loads(tmp_path, seed, key):
    """bigcore wrote the attentions' variables flat in the layer's own vars (GroupQueryAttention
    under group_query_attention) before it wrote Keras's layout: such weights files still load."""
    x = _data(key)
    ours = _build(bigcore, key)
    _perturb(ours, 4)
    old = {"MultiHeadAttention": "multi_head_attention", "GroupQueryAttention": "group_query_attention"}[key]
    with h5py.File(tmp_path / "old.weights.h5", "w") as f:
        f.create_group("vars").attrs["name"] = ours.name
        f.create_group("layers/input_layer/vars")
        grp = f.create_group(f"layers/{old}/vars")
        for i, w in enumerate(ours.layers[1].weights):
            grp.create_dataset(str(i), data=w.numpy())
    fresh = _build(bigcore, key)
    before = _predict(fresh, x)
    fresh.load_weights(tmp_path / "old.weights.h5")
    close(_predict(fresh, x), _predict(ours, x), ATOL)
    assert np.abs(_predict(fresh, x) - before).max() > 1e-3


def test_bidirectional_backward_layer_checks(keras):
    """A backward_layer of one's own: Keras's checks, and another size refused (it was accepted, and
    predict failed in the merge)."""
    L = bigcore.layers
    with pytest.raises(ValueError, match="different `go_backwards`"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3))
    with pytest.raises(ValueError, match="return_sequences"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True, return_sequences=True))
    with pytest.raises(NotImplementedError, match="another class or size"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(2, go_backwards=True))
    with pytest.raises(NotImplementedError, match="another class or size"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.GRU(3, go_backwards=True))
    for bad in (keras.layers.LSTM(3), keras.layers.LSTM(3, go_backwards=True, return_sequences=True)):
        with pytest.raises(ValueError):
            keras.layers.Bidirectional(keras.layers.LSTM(3), backward_layer=bad)
    # one's own backward layer stays in the config (Keras's get_config key), and back
    layer = L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True, recurrent_activation="tanh"))
    again = L.Bidirectional.from_config(layer.get_config())
    assert again.backward_layer.get_config()["recurrent_activation"] == "tanh"
    assert "backward_layer" not in L.Bidirectional(L.LSTM(3)).get_config()


def _attention_block_model(lib):
    """A custom layer holding the attentions in a list: Keras names them there by class
    (blocks/grouped_query_attention, blocks/multi_head_attention)."""

    class AttentionBlock(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.blocks = [lib.layers.GroupQueryAttention(3, 2, 1), lib.layers.MultiHeadAttention(2, 3)]

        def call(self, x):
            for block in self.blocks:
                x = block(x, x)
            return x

    inp = lib.Input((4, 6))
    return lib.Model(inp, AttentionBlock()(inp))


def test_attentions_inside_a_custom_layer_weights_both_ways(keras, tmp_path, seed):
    x = _data("MultiHeadAttention")
    ours, km = _attention_block_model(bigcore), _attention_block_model(keras)
    _perturb(ours, 1)
    _perturb(km, 2)
    ours.save_weights(tmp_path / "o.weights.h5")
    km.save_weights(tmp_path / "k.weights.h5")
    layout = h5_layout(tmp_path / "k.weights.h5")
    assert "layers/attention_block/blocks/grouped_query_attention/_query_dense/vars/0" in layout
    assert h5_layout(tmp_path / "o.weights.h5") == layout
    assert _key_tree(tmp_path / "o.weights.h5") == _key_tree(tmp_path / "k.weights.h5")
    km.load_weights(tmp_path / "o.weights.h5")
    close(_predict(km, x), _predict(ours, x), ATOL)
    _perturb(km, 3)
    km.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    close(_predict(ours, x), _predict(km, x), ATOL)


def _adam_step_saved(lib, key, perturb_seed, path):
    """The `key` model of lib, perturbed, after one Adam step (4 rows, targets half its own prediction
    plus 0.1), saved as .keras at path. Returns the model, the rows and the targets."""
    x = _data(key, n=4)
    model = _build(lib, key)
    _perturb(model, perturb_seed)
    y = np.asarray(model.predict(x, verbose=0)) * 0.5 + 0.1
    model.compile(optimizer=lib.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    model.save(path)
    return model, x, y


# LoRA: the files hold the merged kernel, not lora_kernel_a / b, so training on from a file starts
# from new factors in either library; the slots' layout is still read (the load would refuse it).
_NO_RESUME = {"Dense_lora", "EinsumDense_lora", "Embedding_lora"}


@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")  # an untied reverse_embeddings
@pytest.mark.parametrize("key", sorted(SPECS))
def test_optimizer_state_follows_keras_variable_order(keras, tmp_path, seed, key):
    """Keras's .keras after an Adam step loads in bigcore with its optimizer's slots, one per
    trainable variable in Keras's order (a variable the call never reads too): one more step in
    each gives the same model."""
    km, x, y = _adam_step_saved(keras, key, 2, tmp_path / "k.keras")
    ours = bigcore.saving.load_model(tmp_path / "k.keras")
    assert ours.optimizer.iterations == 1
    if key in _NO_RESUME:
        return
    km.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    ours.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    close(_predict(ours, x), _predict(km, x), ATOL)


def _scaled_in_training(lib):
    class ScaledInTraining(lib.layers.Layer):
        """Dense, times 3 in training only: a call whose `training` defaults to False, which Keras
        records in its files as training=False."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2)

        def call(self, x, training=False):
            h = self.dense(x)
            return h * 3.0 if training else h

    return ScaledInTraining


def test_recorded_default_training_false_follows_the_models_mode(keras, tmp_path, seed):
    """Keras's functional model gives its layers the mode of fit / predict over the training=False
    its file records for a call's default: the loaded model trains in training mode as Keras's does."""
    cls_k, cls_b = _scaled_in_training(keras), _scaled_in_training(bigcore)
    inp = keras.Input((3,))
    km = keras.Model(inp, cls_k(name="scaled")(inp))
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    km.save(tmp_path / "k.keras")
    ours = bigcore.saving.load_model(tmp_path / "k.keras", custom_objects={"ScaledInTraining": cls_b})
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)
    close(_predict(ours, x), _predict(km, x), ATOL)
    km.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    ours.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    close(_predict(ours, x), _predict(km, x), ATOL)


@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")
@pytest.mark.parametrize("key", sorted(k for k in SPECS if k not in _NO_RESUME))
def test_bigcore_optimizer_state_resumes_in_keras(keras, tmp_path, seed, key):
    """bigcore's .keras after an Adam step loads in Keras with the optimizer's slots in Keras's order:
    one more step in each gives the same model."""
    ours, x, y = _adam_step_saved(bigcore, key, 3, tmp_path / "o.keras")
    km = keras.saving.load_model(tmp_path / "o.keras")
    assert int(km.optimizer.iterations) == 1
    km.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    ours.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    close(_predict(km, x), _predict(ours, x), ATOL)
