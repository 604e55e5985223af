"""Sparse weight storage in .bigcore files (compression/storage.py): each tensor stored dense,
as a bitmask or as CSR, whichever is smallest; loading gives back the same bits; int8 kernels of
quantized models too; files that lie about a sparse layout are refused; the size target."""

import json
import os
import zipfile

import bigcore
import numpy as np
import pytest
import safetensors.numpy
from bigcore import compression, layers, saving
from bigcore._native import _core
from bigcore.compression import storage
from bigcore.compression.pruning import pruned_segments


def mlp(sizes=(784, 128, 128, 10)):
    model = bigcore.Sequential([layers.Input((sizes[0],))] +
                               [layers.Dense(n, activation="relu") for n in sizes[1:-1]] +
                               [layers.Dense(sizes[-1], activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def prune_weights(model, sparsity, seed=0):
    """Magnitude-prunes every kernel of `model` in place (the native mask kernel) and makes the
    biases non-zero, as after training."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if w.name.endswith("kernel"):
            w.assign(pruned(w.numpy(), sparsity))
        else:
            w.assign(rng.normal(0, 0.1, w.shape).astype(np.float32))


def pruned(v, sparsity):
    """v with its smallest |v| set to +0.0 (a product with the mask would leave -0.0, which is stored)."""
    return np.where(_core.prune_magnitude_mask(v, sparsity) == 1, v, np.float32(0))


def weights_member(path):
    with zipfile.ZipFile(path) as zf:
        return safetensors.numpy.load(zf.read(saving.WEIGHTS)), json.loads(zf.read(saving.CONFIG))


def assert_bit_equal(a_model, b_model):
    for a, b in zip(a_model.get_weights(), b_model.get_weights()):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


# --- layouts -------------------------------------------------------------------------------------

def test_choice_per_tensor():
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((64, 32)).astype(np.float32)
    assert storage.choose(dense) == ("dense", dense.nbytes)
    p80 = pruned(dense, 0.8)
    nnz = int(np.count_nonzero(p80))
    assert storage.choose(p80) == ("bitmask", 64 * 32 // 8 + 4 * nnz)
    wide = rng.standard_normal((16, 512)).astype(np.float32)
    p98 = pruned(wide, 0.98)
    nnz = int(np.count_nonzero(p98))
    assert storage.choose(p98) == ("csr", 4 * 17 + 6 * nnz)
    q = (p80 * 40).astype(np.int8)  # int8 values: 1 byte each
    assert storage.choose(q) == ("bitmask", 64 * 32 // 8 + int(np.count_nonzero(q)))
    tiny = np.zeros(3, np.float32)
    assert storage.choose(tiny)[0] in ("bitmask", "csr") and storage.choose(tiny)[1] < 12
    # -0.0 is not zero for storage: its bits must come back
    negzero = np.full((4, 4), -0.0, np.float32)
    assert storage.sizes(negzero)["bitmask"] == 2 + 64
    wide = np.zeros((2, 70000), np.float32)
    wide[0, 5] = 1
    assert "csr" not in storage.sizes(wide)  # CSR column indices are 16-bit


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.8, 0.97, 0.999])
@pytest.mark.parametrize("shape", [(7,), (33, 17), (300, 40), (5, 4, 3)])
def test_encode_decode_bit_equal(dtype, sparsity, shape):
    rng = np.random.default_rng(1)
    v = rng.standard_normal(shape).astype(np.float32)
    v = v * _core.prune_magnitude_mask(v, sparsity)
    if dtype == np.int8:
        v = np.clip(np.round(v * 60), -127, 127).astype(np.int8)
    else:
        v.reshape(-1)[::11] = -0.0  # negative zeros and specials keep their bits
        v.reshape(-1)[1::13] = np.nan
    parts = storage.encode(3, "layer/kernel", v)
    layout = storage.choose(v)[0]
    assert {storage.split_key(k)[1] for k in parts} == {"dense": {None}, "bitmask": {"mask", "values"},
                                                        "csr": {"indptr", "indices", "values"}}[layout]
    assert sum(a.nbytes for a in parts.values()) == storage.choose(v)[1]
    w = bigcore.layers.Weight("layer/kernel", shape, lambda s: np.zeros(s, dtype), dtype=dtype)
    out = storage.decode_all("t", parts, [None, None, None, w])
    back = out["0003:layer/kernel"]
    assert back.dtype == v.dtype and back.shape == v.shape
    np.testing.assert_array_equal(back.view(np.uint8), v.view(np.uint8))


# --- files ---------------------------------------------------------------------------------------

def test_pruned_model_round_trip_each_layout(tmp_path, seed):
    model = mlp((40, 64, 48, 3))
    prune_weights(model, 0.0)
    k0, k1 = (layer.kernel for layer in model.layers[:2])
    k0.assign(pruned(k0.numpy(), 0.99))  # CSR
    k1.assign(pruned(k1.numpy(), 0.8))   # bitmask
    model.save(tmp_path / "m.bigcore")                                     # k2 dense
    tensors, config = weights_member(tmp_path / "m.bigcore")
    assert config["format_version"] == 2
    layouts = {}
    for key in tensors:
        idx, part, _ = storage.split_key(key)
        layouts.setdefault(int(idx), set()).add(part)
    assert layouts == {0: {"indptr", "indices", "values"}, 1: {None}, 2: {"mask", "values"}, 3: {None},
                       4: {None}, 5: {None}}  # Dense lowers bias after kernel, but weights keep kernel first
    loaded = saving.load_model(tmp_path / "m.bigcore")
    assert_bit_equal(model, loaded)
    x = np.random.default_rng(0).standard_normal((9, 40)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    # the optimizer state came back too, and training goes on
    loaded.fit(x, np.arange(9) % 3, epochs=1, verbose=0)


def test_dense_models_keep_format_version_1(tmp_path, seed):
    model = mlp((8, 6, 2))
    prune_weights(model, 0.0)
    model.save(tmp_path / "d.bigcore")
    tensors, config = weights_member(tmp_path / "d.bigcore")
    assert config["format_version"] == 1 and all(storage.split_key(k)[1] is None for k in tensors)


def test_quantized_pruned_model_round_trip(tmp_path, seed):
    model = mlp()
    prune_weights(model, 0.8)
    qmodel = bigcore.quantization.quantize(model)
    qmodel.save(tmp_path / "q.bigcore")
    tensors, _ = weights_member(tmp_path / "q.bigcore")
    values = [v for k, v in tensors.items() if storage.split_key(k)[1] == "values"]
    assert len(values) == 3 and all(v.dtype == np.int8 for v in values)
    scales = [v for k, v in tensors.items() if k.endswith("kernel_scale")]
    assert len(scales) == 3 and all(v.dtype == np.float32 for v in scales)
    loaded = saving.load_model(tmp_path / "q.bigcore")
    assert_bit_equal(qmodel, loaded)
    x = np.random.default_rng(0).random((16, 784)).astype(np.float32)
    np.testing.assert_array_equal(qmodel.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_size_target_pruned_80_and_int8_is_10x_smaller(tmp_path, seed):
    model = mlp()
    prune_weights(model, 0.0)
    model.save(tmp_path / "f.bigcore", include_optimizer=False)
    pruned = mlp()
    prune_weights(pruned, 0.8)
    qmodel = bigcore.quantization.quantize(pruned)
    qmodel.save(tmp_path / "q.bigcore", include_optimizer=False)
    ratio = os.path.getsize(tmp_path / "f.bigcore") / os.path.getsize(tmp_path / "q.bigcore")
    assert ratio >= 10.0, ratio
    rows = compression.summary(qmodel, print_fn=lambda s: None)
    tensors, _ = weights_member(tmp_path / "q.bigcore")
    assert rows[-1]["stored_bytes"] == sum(v.nbytes for v in tensors.values())  # summary says what is saved
    assert rows[-1]["float32_ratio"] > 11


def test_include_optimizer_false(tmp_path, seed):
    model = mlp((8, 6, 2))
    model.fit(np.ones((4, 8), np.float32), np.zeros(4), verbose=0)
    model.save(tmp_path / "n.bigcore", include_optimizer=False)
    with zipfile.ZipFile(tmp_path / "n.bigcore") as zf:
        assert saving.OPTIMIZER not in zf.namelist()
    loaded = saving.load_model(tmp_path / "n.bigcore")
    assert loaded.compiled and loaded.optimizer.iterations == 0
    assert_bit_equal(model, loaded)
    loaded.fit(np.ones((4, 8), np.float32), np.zeros(4), verbose=0)


def test_a_model_saved_while_pruning_resumes_bit_identically(tmp_path, seed):
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    schedule = compression.PolynomialDecay(0.0, 0.9, begin_step=0, end_step=12, frequency=2)
    model = compression.prune_low_magnitude(mlp((8, 32, 2)), pruning_schedule=schedule)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)  # 8 steps: part way through the schedule
    model.save(tmp_path / "p.bigcore")
    _, config = weights_member(tmp_path / "p.bigcore")
    assert config["pruning"][model.layers[0].name]["schedule"]["class_name"] == "PolynomialDecay"
    loaded = saving.load_model(tmp_path / "p.bigcore")
    assert_bit_equal(model, loaded)
    assert compression.is_pruned(loaded)
    for (_, a), (_, b) in zip(pruned_segments(model._program), pruned_segments(loaded._program)):
        for off_a, off_b in zip(a, b):
            np.testing.assert_array_equal(_core.program_mask(model._program.native, off_a),
                                          _core.program_mask(loaded._program.native, off_b))
    model.fit(x, y, epochs=5, batch_size=16, verbose=0, initial_epoch=2)
    loaded.fit(x, y, epochs=5, batch_size=16, verbose=0, initial_epoch=2)  # steps 8..19: the schedule ends at 12
    assert_bit_equal(model, loaded)
    k = loaded.layers[0].kernel.numpy()
    assert int((k == 0).sum()) == k.size - int(np.round(k.size * 0.1))
    stripped = compression.strip_pruning(loaded)
    stripped.save(tmp_path / "s.bigcore")
    assert "pruning" not in weights_member(tmp_path / "s.bigcore")[1]


def test_bad_pruning_state_is_refused(tmp_path, seed):
    model = compression.prune_low_magnitude(mlp((8, 4, 2)))
    model.save(tmp_path / "p.bigcore")
    first = model.layers[0].name
    for edit, match in ((lambda c: c["pruning"].update(nosuch=c["pruning"][first]), "'nosuch'"),
                        (lambda c: c["pruning"][first].update(schedule={"class_name": "os.system"}),
                         "Not a pruning schedule"),
                        (lambda c: c["pruning"][first]["schedule"]["config"].update(target_sparsity=1.5),
                         "target_sparsity"),
                        (lambda c: c.update(pruning=[1]), "must be an object")):
        with zipfile.ZipFile(tmp_path / "p.bigcore") as zf:
            items = {n: zf.read(n) for n in zf.namelist()}
        config = json.loads(items[saving.CONFIG])
        edit(config)
        items[saving.CONFIG] = json.dumps(config).encode()
        with zipfile.ZipFile(tmp_path / "bad.bigcore", "w") as zf:
            for n, d in items.items():
                zf.writestr(n, d)
        with pytest.raises(ValueError, match=match):
            saving.load_model(tmp_path / "bad.bigcore")


def test_loader_budget_counts_what_sparse_layouts_decode_to(tmp_path, seed, monkeypatch):
    import contextlib

    from bigcore.layers import base

    model = mlp((100, 64, 2))
    prune_weights(model, 0.9)
    model.save(tmp_path / "s.bigcore", include_optimizer=False)
    budgets = []

    @contextlib.contextmanager
    def record(nbytes):
        budgets.append(nbytes)
        yield

    monkeypatch.setattr(base, "weight_budget", record)
    saving.load_model(tmp_path / "s.bigcore")
    tensors, _ = weights_member(tmp_path / "s.bigcore")
    with zipfile.ZipFile(tmp_path / "s.bigcore") as zf:
        size = zf.getinfo(saving.WEIGHTS).file_size
    mask_bytes = sum(v.nbytes for k, v in tensors.items() if storage.split_key(k)[1] == "mask")
    csr_bytes = sum(v.nbytes for k, v in tensors.items() if storage.split_key(k)[1] in ("indptr", "indices")) + \
        sum(v.nbytes for k, v in tensors.items() if storage.split_key(k)[1] == "values" and
            any(storage.split_key(j)[0] == storage.split_key(k)[0] and storage.split_key(j)[1] == "indptr"
                for j in tensors))
    assert budgets == [size + 32 * mask_bytes + 1024 * csr_bytes]
    assert budgets[0] >= sum(w.value.nbytes for w in model.weights)


def test_config_claiming_more_than_the_sparse_layouts_hold_is_refused(tmp_path, seed):
    model = mlp((100, 64, 2))
    prune_weights(model, 0.9)
    model.save(tmp_path / "s.bigcore", include_optimizer=False)
    with zipfile.ZipFile(tmp_path / "s.bigcore") as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(items[saving.CONFIG])
    config["config"]["layers"][1]["config"]["units"] = 1 << 24
    items[saving.CONFIG] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "giant.bigcore", "w") as zf:
        for n, d in items.items():
            zf.writestr(n, d)
    with pytest.raises(ValueError, match="bytes left in the file"):
        saving.load_model(tmp_path / "giant.bigcore")


# --- files that lie ---------------------------------------------------------------------------

def _sparse_file(tmp_path):
    model = mlp((40, 64, 3))
    prune_weights(model, 0.0)
    k0, k1 = model.layers[0].kernel, model.layers[1].kernel
    k0.assign(pruned(k0.numpy(), 0.99))  # csr, weight 0
    k1.assign(pruned(k1.numpy(), 0.8))   # bitmask, weight 2
    path = tmp_path / "good.bigcore"
    model.save(path, include_optimizer=False)
    return path


def _edit(path, dst, fn):
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    tensors = safetensors.numpy.load(items[saving.WEIGHTS])
    fn(tensors)
    items[saving.WEIGHTS] = safetensors.numpy.save(tensors)
    with zipfile.ZipFile(dst, "w") as zf:
        for n, d in items.items():
            zf.writestr(n, d)
    return dst


def _key(tensors, idx, part):
    return next(k for k in tensors if storage.split_key(k)[:2] == (f"{idx:04d}", part))


def _set(idx, part, fn):
    def edit(t):
        k = _key(t, idx, part)
        t[k] = fn(t[k])
    return edit


LIES = {
    "mask too short": (_set(2, "mask", lambda a: a[:-1]), "expected uint8 of shape"),
    "mask popcount": (_set(2, "mask", lambda a: np.concatenate([[a[0] ^ 1], a[1:]]).astype(np.uint8)),
                      "values are stored"),
    "values wrong dtype": (_set(2, "values", lambda a: a.astype(np.float64)), "expected dtype F32"),
    "values int8 for float": (_set(2, "values", lambda a: a.astype(np.int8)), "expected 1-D float32"),
    "indptr wrong length": (_set(0, "indptr", lambda a: a[:-1]), "expected int32 of shape"),
    "indptr falls": (_set(0, "indptr", lambda a: np.concatenate([a[:1], a[1:][::-1]])), "indptr must rise"),
    "index out of range": (_set(0, "indices", lambda a: np.full_like(a, 64)), "column index"),
    "indices unsorted": (_set(0, "indices", lambda a: a[::-1].copy()), "ascend strictly"),
    "indices int32": (_set(0, "indices", lambda a: a.astype(np.int32)), "expected uint16"),
    "part missing": (lambda t: t.pop(_key(t, 0, "indices")), "expected one name with parts"),
    "unknown part": (lambda t: t.update({"0000.bogus:dense/kernel": np.zeros(3, np.float32)}), "parts"),
    "both dense and sparse": (lambda t: t.update({"0002:" + storage.split_key(_key(t, 2, "mask"))[2]:
                                                  np.zeros((64, 3), np.float32)}), "both dense and"),
    "index past the weights": (lambda t: t.update({"0099.mask:x": np.zeros(1, np.uint8)}), "unexpected tensor"),
}


@pytest.mark.parametrize("case", sorted(LIES))
def test_lying_sparse_layouts_are_refused(tmp_path, seed, case):
    fn, match = LIES[case]
    bad = _edit(_sparse_file(tmp_path), tmp_path / "bad.bigcore", fn)
    with pytest.raises(ValueError, match=match):
        saving.load_model(bad)


def test_old_reader_message_for_new_files(tmp_path, seed):
    """A file with sparse layouts says format_version 2: a reader of version 1 asks for an upgrade."""
    path = _sparse_file(tmp_path)
    _, config = weights_member(path)
    assert config["format_version"] == 2 == saving.FORMAT_VERSION


def test_all_zero_tensors_store_small_and_load_within_the_budget(tmp_path, seed):
    # CSR of an all-zero (100, 3000) kernel would be 404 bytes for 1.2 MB: past CSR_MAX_RATIO, so a
    # bitmask (32x) is used and the loader's budget still covers the allocation
    model = bigcore.Sequential([layers.Input((100,)), layers.Dense(3000, kernel_initializer="zeros")])
    assert "csr" not in storage.sizes(model.layers[0].kernel.numpy())
    model.save(tmp_path / "z.bigcore", include_optimizer=False)
    tensors, config = weights_member(tmp_path / "z.bigcore")
    assert config["format_version"] == 2 and sum(v.nbytes for v in tensors.values()) < 100 * 3000 * 4 / 30
    loaded = saving.load_model(tmp_path / "z.bigcore")
    assert_bit_equal(model, loaded)
