"""The ways a lower module of bigcore reaches a higher one without importing it: the class registry,
the eager-call hook, program step hooks and saving-state hooks; models.clone_model; the version in
one place; and the rule that nothing inside python/bigcore imports inside a function except
optional third-party modules."""

import ast
import json
import pathlib
import re
import tomllib
import zipfile

import numpy as np
import pytest

import bigcore
from bigcore import callbacks, compression, layers, quantization, saving
from bigcore.datasets import imdb, imdb_convert
from bigcore.layers import base, registry
from bigcore.models import clone_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
X = np.random.default_rng(0).standard_normal((12, 6)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)


def seq(hidden_hooks=()):
    hidden = layers.Dense(5, activation="relu", name="hidden")
    hidden._program_hooks = hidden_hooks  # attached when the model's program is made (at compile)
    model = bigcore.Sequential([layers.Input((6,)), hidden, layers.Dropout(0.2),
                                layers.Dense(2, activation="softmax", name="out")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def branched():
    """A functional model with two inputs, a merge and one layer called twice."""
    a, b = bigcore.Input((6,), name="a"), bigcore.Input((6,), name="b")
    shared = layers.Dense(4, name="shared")
    merged = layers.Concatenate(name="cat")([shared(a), shared(b)])
    return bigcore.Model([a, b], layers.Dense(3, name="head")(merged), name="two_towers")


# --- the class registry ---------------------------------------------------------------------------

def test_every_layer_class_of_bigcore_layers_is_registered_under_its_name():
    classes = {cls for module in vars(layers).values() if getattr(module, "__name__", "").startswith("bigcore.layers.")
               for cls in vars(module).values()
               if isinstance(cls, type) and issubclass(cls, base.Layer) and cls.__module__ == module.__name__
               and not cls.__name__.startswith("_") and cls is not base.Layer}
    assert {c.__name__ for c in classes} >= {"Dense", "LSTM", "Bidirectional", "QuantizedDense", "QuantizedLSTM",
                                            "QuantizedGRU", "SparseDense", "QuantizedSparseDense", "InputLayer"}
    for cls in classes:
        assert layers.get_class(cls.__name__) is cls
    assert quantization.QuantizedDense is layers.get_class("QuantizedDense")  # re-exported, one class


def test_model_classes_and_the_names_files_give_them():
    assert registry.model_class("Sequential") is bigcore.Sequential
    assert registry.model_class("Functional") is registry.model_class("Model") is bigcore.Model

    class MySequential(bigcore.Sequential):
        pass

    assert registry.model_class_name(MySequential()) == "Sequential"  # the nearest registered class
    assert registry.model_class_name(branched()) == "Functional"
    with pytest.raises(ValueError, match="Unknown model class: 'Tower'"):
        registry.model_from_config("Tower", {})
    with pytest.raises(ValueError, match="not a registered bigcore model class"):
        registry.model_class_name(layers.Dense(2))
    with pytest.raises(ValueError, match="Unknown layer: 'Sequential'"):  # models are not layers to a config
        layers.get_class("Sequential")


def test_from_config_rebuilds_both_model_kinds(seed):
    for model in (seq(), branched()):
        again = type(model).from_config(model.get_config())
        assert type(again) is type(model) and again.get_config() == model.get_config()


def test_custom_classes_are_registered_only_inside_the_scope():
    class Scaled(layers.Dense):
        pass

    with registry.custom_classes({"Scaled": Scaled, "Dense": Scaled}):
        assert layers.get_class("Scaled") is Scaled and layers.get_class("Dense") is Scaled
    assert layers.get_class("Dense") is layers.Dense
    with pytest.raises(ValueError, match="Unknown layer: 'Scaled'"):
        layers.get_class("Scaled")


# --- the eager-call hook --------------------------------------------------------------------------

def test_a_layer_on_numpy_runs_through_the_installed_runner(seed, monkeypatch):
    dense = layers.Dense(3, activation="relu")
    y = dense(X)
    k, b = dense.get_weights()
    np.testing.assert_allclose(y, np.maximum(X @ k + b, 0), rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(base, "_eager_runner", None)
    with pytest.raises(RuntimeError, match="no eager runner is installed"):
        layers.Dense(3)(X)


# --- program step hooks ---------------------------------------------------------------------------

class _Recorder:
    """A program hook that adds a step hook recording (step, the layer's kernel before the step)."""

    def __init__(self):
        self.calls = []

    def attach(self, low, layer):
        def hook(program, step):
            self.calls.append((step, layer.kernel.numpy()))

        low.step_hooks.append(hook)


def test_step_hooks_run_before_every_native_training_step_and_only_then(seed):
    recorder = _Recorder()
    model = seq(hidden_hooks=(recorder,))
    model.fit(X, Y, batch_size=4, epochs=2, verbose=0)  # 3 batches an epoch
    assert [s for s, _ in recorder.calls] == [0, 1, 2, 3, 4, 5]
    # each call saw the weights the step was about to update: the previous call's differ from them
    assert not np.array_equal(recorder.calls[0][1], recorder.calls[1][1])
    kernel = model.get_layer("hidden").kernel.numpy()
    model.train_on_batch(X[:4], Y[:4])
    assert recorder.calls[-1][0] == 6 and np.array_equal(recorder.calls[-1][1], kernel)
    n = len(recorder.calls)
    model.evaluate(X, Y, verbose=0)
    model.predict(X, verbose=0)
    assert len(recorder.calls) == n


def test_pruning_masks_follow_the_schedule_without_any_callback(seed):
    pruned = compression.prune_low_magnitude(seq(), pruning_schedule=compression.ConstantSparsity(0.5, begin_step=1,
                                                                                                  frequency=100))
    kernel = pruned.get_layer("hidden").kernel
    pruned.train_on_batch(X, Y)  # step 0: before begin_step
    assert (kernel.numpy() == 0).sum() == 0
    pruned.train_on_batch(X, Y)  # step 1 fires: half of the 30 kernel entries
    assert (kernel.numpy() == 0).sum() == 15
    assert len(compression.pruning.pruned_segments(pruned._program)) == 2  # hidden and out


# --- saving-state hooks ---------------------------------------------------------------------------

@pytest.fixture
def note_state(monkeypatch):
    """A saving-state hook "note": the model's `note` attribute, when it has one."""
    monkeypatch.setattr(saving.api, "_STATES", dict(saving.api._STATES))
    restored = []

    def restore(model, value):
        if not isinstance(value, str):
            raise ValueError(f"a note must be a string, got {value!r}")
        restored.append(value)
        assert model._program is None  # before compile makes the program
        model.note = value

    saving.register_state("note", lambda model: getattr(model, "note", None), restore)
    return restored


def test_a_registered_state_is_saved_in_config_json_and_restored(tmp_path, seed, note_state):
    model = seq()
    model.note = "keep me"
    model.save(tmp_path / "n.bigcore")
    with zipfile.ZipFile(tmp_path / "n.bigcore") as zf:
        assert json.loads(zf.read(saving.CONFIG))["note"] == "keep me"
    loaded = saving.load_model(tmp_path / "n.bigcore")
    assert loaded.note == "keep me" and note_state == ["keep me"]
    plain = seq()
    plain.save(tmp_path / "plain.bigcore")  # save() returned None: no key, nothing restored
    with zipfile.ZipFile(tmp_path / "plain.bigcore") as zf:
        assert "note" not in json.loads(zf.read(saving.CONFIG))
    saving.load_model(tmp_path / "plain.bigcore")
    assert note_state == ["keep me"]


def test_a_bad_registered_state_is_reported_with_the_file(tmp_path, seed, note_state):
    model = seq()
    model.note = 42
    model.save(tmp_path / "bad.bigcore")
    with pytest.raises(ValueError, match=r"bad\.bigcore: config\.json: a note must be a string, got 42"):
        saving.load_model(tmp_path / "bad.bigcore")


def test_register_state_refuses_the_keys_the_format_owns():
    for name in ("config", "training_state", "format"):
        with pytest.raises(ValueError, match="not a free config.json key"):
            saving.register_state(name, lambda m: None, lambda m, v: None)
    with pytest.raises(TypeError, match="save and restore functions"):
        saving.register_state("x", None, lambda m, v: None)


# --- clone_model ----------------------------------------------------------------------------------

def test_clone_model_same_graph_fresh_weights(seed):
    for model in (seq(), branched()):
        clone = clone_model(model)
        assert type(clone) is type(model) and clone.get_config() == model.get_config()
        assert not clone.compiled
        assert all(a is not b for a, b in zip(clone.layers, model.layers))
        assert not all(np.array_equal(a, b) for a, b in zip(clone.get_weights(), model.get_weights()))
    clone = clone_model(branched())
    assert len(clone.get_layer("shared")._inbound) == 2  # the shared layer stays one layer called twice


def test_clone_function_sees_every_layer_once_in_config_order_and_may_swap_it(seed):
    model = seq()
    model.fit(X, Y, epochs=1, verbose=0)
    seen = []

    def swap(layer):
        seen.append(layer.name)
        cfg = registry.layer_config(layer)
        if layer.name == "out":
            cfg["class_name"] = "SparseDense"
        return registry.layer_from_config(cfg)

    clone = clone_model(model, clone_function=swap)
    assert seen == [entry["config"]["name"] for entry in model.get_config()["layers"]]
    assert type(clone.get_layer("out")) is layers.get_class("SparseDense")
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_clone_model_refuses_what_it_does_not_do():
    model = seq()
    for kw in ({"input_tensors": [bigcore.Input((6,))]}, {"call_function": lambda *a: a}, {"recursive": True}):
        with pytest.raises(ValueError, match="does not support"):
            clone_model(model, **kw)
    with pytest.raises(TypeError, match="unexpected keyword arguments: \\['depth'\\]"):
        clone_model(model, depth=2)
    with pytest.raises(TypeError, match="clone_function must be callable"):
        clone_model(model, clone_function="Dense")


# --- names that stay where they were -------------------------------------------------------------

def test_public_names_stay_importable_where_they_were():
    for name in ("Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "TerminateOnNaN",
                 "LambdaCallback", "LearningRateScheduler", "CSVLogger", "ModelCheckpoint", "ReduceLROnPlateau",
                 "TensorBoard"):
        assert issubclass(getattr(callbacks, name), callbacks.Callback)
    for name in ("save_model", "load_model", "save_weights", "load_weights", "model_to_json", "model_from_json"):
        assert callable(getattr(saving, name))
    assert (saving.MODEL_SUFFIX, saving.WEIGHTS_SUFFIX) == (".bigcore", ".weights.safetensors")
    assert compression.storage is saving.storage
    assert quantization.quantize_weights is layers.quantized.quantize_weights
    assert bigcore.sparse_select.SparseDense is layers.get_class("SparseDense")
    assert imdb.convert is imdb_convert.convert and imdb.native_name is imdb_convert.native_name


# --- the version in one place; imports at the top -------------------------------------------------

def test_the_version_is_written_once_and_pyproject_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    source = project["tool"]["scikit-build"]["metadata"]["version"]
    assert source["provider"] == "scikit_build_core.metadata.regex"
    text = (ROOT / source["input"]).read_text()
    # scikit-build-core's default pattern for the regex provider
    found = re.search(r"""(?im)^(__version__|VERSION) *= *(['"])v?(?P<value>.+?)\2""", text)
    assert found and found["value"] == bigcore.__version__


# The only modules python/bigcore may import inside a function: optional extras and the CUDA module.
OPTIONAL = {"onnx", "pydot", "matplotlib", "tensorboardX", "mpi4py", "IPython", "h5py", "PIL", "bigcore._cuda"}


def test_no_import_inside_a_function_except_optional_modules():
    found = []
    for path in sorted((ROOT / "python" / "bigcore").rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [f"{node.module}.{a.name}" if node.module == "bigcore" else node.module
                             for a in node.names]
                else:
                    continue
                found += [(path.name, node.lineno, n) for n in names if n not in OPTIONAL]
    assert found == []
