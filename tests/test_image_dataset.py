"""image_dataset_from_directory and the image-file helpers (load_img, img_to_array, array_to_img,
save_img, smart_resize) against Keras 3 on folders written here with Pillow.

Keras's own image_dataset_from_directory needs TensorFlow (format="tf") or grain (format="grain"),
neither installed here, so the reference is built from the pieces its grain route runs on the
torch backend: dataset_utils.index_directory (order, labels, class names),
get_training_or_validation_split, _load_image_grain (Pillow decode, ops.image.resize) and
ops.one_hot for the label modes."""

import io
import os
import sys

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.utils import image_dataset
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)
PIL = pytest.importorskip("PIL.Image")

FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
ATOL = 1e-3  # float32 rounding of the interpolation weights (torch's and bigcore's) on 0..255 values
# class -> (relative name, (height, width), PIL mode): sizes, formats and modes vary on purpose
FILES = {
    "cats": [("a.png", (20, 30), "RGB"), ("b.jpg", (24, 16), "RGB"), ("nested/c.bmp", (12, 12), "RGB"),
             ("D.PNG", (9, 33), "RGBA")],
    "dogs": [("e.png", (18, 25), "L"), ("f.gif", (10, 14), "P"), ("g.jpeg", (30, 22), "RGB")],
    "owls": [("h.png", (16, 16), "RGBA"), ("i.png", (7, 19), "LA"), ("j.jpg", (21, 21), "L"),
             ("k.bmp", (15, 8), "RGB")],
}


def _write(path, size, mode, rng):
    h, w = size
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 1}[mode]
    pixels = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
    img = PIL.fromarray(pixels[:, :, 0] if channels == 1 else pixels, "L" if mode == "P" else mode)
    if mode == "P":
        img = img.convert("RGB").convert("P", palette=PIL.Palette.ADAPTIVE, colors=16)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path)


@pytest.fixture
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "pets"
    for cls, files in FILES.items():
        for name, size, mode in files:
            _write(str(root / cls / name), size, mode, rng)
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "stray.png").write_bytes((root / "cats" / "a.png").read_bytes())  # outside the class folders
    (root / ".hidden").mkdir()
    _write(str(root / ".hidden" / "x.png"), (4, 4), "RGB", rng)
    return root


def _keras_images(paths, color_mode="rgb", image_size=(256, 256), interpolation="bilinear",
                  crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format="channels_last"):
    from keras.src.utils.image_dataset_utils import _load_image_grain

    def load(path):  # from bytes: Keras's loader leaves a path's file open (a ResourceWarning here)
        with open(path, "rb") as f:
            raw = io.BytesIO(f.read())
        return np.asarray(_load_image_grain(raw, image_size, CHANNELS[color_mode], interpolation, data_format,
                                            crop_to_aspect_ratio, pad_to_aspect_ratio))

    return np.stack([load(p) for p in paths])


def _keras_labels(keras, ids, label_mode, num_classes):
    """Keras's labels_to_dataset: int32, float32 (n, 1), or one_hot float32."""
    ids = np.asarray(ids)
    if label_mode == "binary":
        return ids.astype(np.float32)[:, None]
    if label_mode == "categorical":
        return np.asarray(keras.ops.one_hot(ids, num_classes))
    return ids


def _all(ds):
    """Every element of every batch: (images, labels) concatenated, or images alone."""
    batches = list(ds)
    if isinstance(batches[0], tuple):
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    return np.concatenate(batches)


def _index(keras, directory, **kw):
    from keras.src.utils import dataset_utils
    kw.setdefault("labels", "inferred")
    return dataset_utils.index_directory(str(directory), formats=FORMATS, **kw)


def test_order_labels_and_pixels_match_keras(keras, image_dir, capsys):
    ds = bigcore.utils.image_dataset_from_directory(image_dir, image_size=(14, 18), batch_size=4, shuffle=False)
    assert "Found 11 files belonging to 3 classes." in capsys.readouterr().out
    paths, ids, names = _index(keras, image_dir, shuffle=False)
    assert ds.class_names == names == ["cats", "dogs", "owls"]
    assert ds.file_paths == paths and len(paths) == 11 and not any("stray" in p or "hidden" in p for p in paths)
    assert len(ds) == 3
    x, y = _all(ds)
    assert x.shape == (11, 14, 18, 3) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(y, ids)
    np.testing.assert_allclose(x, _keras_images(paths, image_size=(14, 18)), rtol=0, atol=ATOL)
    assert 0 <= x.min() and x.max() <= 255 and x.max() > 200


@pytest.mark.parametrize("kw", [
    dict(image_size=(12, 12)),
    dict(image_size=(40, 25), interpolation="nearest"),
    dict(image_size=(9, 13), color_mode="grayscale"),
    dict(image_size=(10, 20), color_mode="rgba", crop_to_aspect_ratio=True),
    dict(image_size=(10, 20), interpolation="nearest", crop_to_aspect_ratio=True),
    dict(image_size=(17, 11), pad_to_aspect_ratio=True),
    dict(image_size=(16, 16), interpolation="nearest", pad_to_aspect_ratio=True, color_mode="grayscale"),
    dict(image_size=(11, 7), data_format="channels_first", crop_to_aspect_ratio=True),
    dict(image_size=(8, 24), data_format="channels_first", color_mode="rgba"),
])
def test_resize_settings_match_keras(keras, image_dir, kw):
    ds = bigcore.utils.image_dataset_from_directory(image_dir, label_mode=None, batch_size=5, shuffle=False,
                                                    verbose=False, **kw)
    x = _all(ds)
    want = _keras_images(ds.file_paths, **kw)
    assert x.shape == want.shape and x.dtype == np.float32
    np.testing.assert_allclose(x, want, rtol=0, atol=ATOL)


def test_unresized_pixels_are_the_files_exactly(keras, image_dir):
    path = str(image_dir / "cats" / "a.png")
    ds = bigcore.utils.image_dataset_from_directory(image_dir / "cats", labels=None, image_size=(20, 30),
                                                    shuffle=False, batch_size=None, verbose=False)
    first = list(ds)[ds.file_paths.index(path)]  # "D.PNG" sorts before "a.png", as in Keras
    assert first.shape == (20, 30, 3)
    np.testing.assert_array_equal(first, np.asarray(PIL.open(path), np.float32))
    np.testing.assert_array_equal(first, _keras_images([path], image_size=(20, 30))[0])


@pytest.mark.parametrize("label_mode", ["int", "categorical", "binary", None])
def test_label_modes_match_keras(keras, image_dir, label_mode):
    kw = dict(class_names=["owls", "cats"]) if label_mode == "binary" else {}
    ds = bigcore.utils.image_dataset_from_directory(image_dir, label_mode=label_mode, image_size=(8, 8), seed=5,
                                                    batch_size=3, verbose=False, **kw)
    # label_mode=None indexes as labels=None: every image under the folder, loose or hidden ones too
    paths, ids, names = _index(keras, image_dir, labels="inferred" if label_mode else None, shuffle=True, seed=5, **kw)
    assert ds.file_paths == paths
    if label_mode is None:
        assert ds.class_names is None and len(paths) == 13
        np.testing.assert_allclose(_all(ds), _keras_images(paths, image_size=(8, 8)), rtol=0, atol=ATOL)
        return
    assert ds.class_names == names
    x, y = _all(ds)  # the first pass is in file_paths' order; later ones are reshuffled
    want = _keras_labels(keras, ids, label_mode, len(names))
    assert y.dtype == want.dtype == (np.int32 if label_mode == "int" else np.float32)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_allclose(x, _keras_images(paths, image_size=(8, 8)), rtol=0, atol=ATOL)


def test_explicit_labels_match_keras(keras, image_dir):
    cats = image_dir / "cats"
    given = [2, 0, 1, 0]
    paths, ids, names = _index(keras, cats, labels=given, shuffle=False)
    read = bigcore.utils.image_dataset_from_directory
    ds = read(cats, labels=given, label_mode="categorical", image_size=(6, 6), shuffle=False, verbose=False)
    assert ds.file_paths == paths and ds.class_names == names == ["0", "1", "2"]
    np.testing.assert_array_equal(_all(ds)[1], _keras_labels(keras, ids, "categorical", 3))
    ds = read(cats, labels=given, image_size=(6, 6), shuffle=False, verbose=False)
    np.testing.assert_array_equal(_all(ds)[1], ids)
    with pytest.raises(ValueError, match=r"len\(labels\) is 3 while we found 4 files"):
        read(cats, labels=[0, 1, 0], verbose=False)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\). Received the label 5"):
        read(cats, labels=[0, 5, 0, 5], label_mode="categorical", verbose=False)


def test_follow_links_matches_keras(keras, image_dir):
    os.symlink(image_dir / "owls", image_dir / "dogs" / "linked", target_is_directory=True)
    for follow in (False, True):
        ds = bigcore.utils.image_dataset_from_directory(image_dir, follow_links=follow, shuffle=False,
                                                        image_size=(4, 4), verbose=False)
        paths, ids, _ = _index(keras, image_dir, shuffle=False, follow_links=follow)
        assert ds.file_paths == paths
        np.testing.assert_array_equal(_all(ds)[1], ids)
        assert len(paths) == (15 if follow else 11)


@pytest.mark.parametrize("subset", ["training", "validation"])
def test_validation_split_matches_keras(keras, image_dir, subset, capsys):
    from keras.src.utils import dataset_utils
    ds = bigcore.utils.image_dataset_from_directory(image_dir, validation_split=0.3, subset=subset, seed=42,
                                                    image_size=(5, 5), batch_size=2)
    paths, ids, _ = _index(keras, image_dir, shuffle=True, seed=42)
    want_paths, want_ids = dataset_utils.get_training_or_validation_split(paths, ids, 0.3, subset)
    assert ds.file_paths == want_paths and len(want_paths) == (8 if subset == "training" else 3)
    assert f"Using {len(want_paths)} files for {subset}." in capsys.readouterr().out
    assert sum(len(b[0]) for b in ds) == len(want_paths)
    _, y = _all(ds)  # this second pass is reshuffled: the same labels, in another order
    np.testing.assert_array_equal(np.sort(y), np.sort(want_ids))


def test_shuffle_is_deterministic_and_the_halves_partition(image_dir):
    def both(seed):
        return bigcore.utils.image_dataset_from_directory(image_dir, validation_split=0.25, subset="both",
                                                          seed=seed, image_size=(6, 6), batch_size=3, verbose=False)

    train, val = both(7)
    again, _ = both(7)
    other, _ = both(8)
    assert set(train.file_paths).isdisjoint(val.file_paths)
    assert len(set(train.file_paths) | set(val.file_paths)) == 11 and len(val.file_paths) == 2
    epochs = [_all(train) for _ in range(3)]
    for (x, y), (x2, y2) in zip(epochs, [_all(again) for _ in range(3)]):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(epochs[1][0], epochs[2][0])  # reshuffled each pass
    assert other.file_paths != train.file_paths
    # the validation half keeps its order, pass after pass
    np.testing.assert_array_equal(_all(val)[0], _all(val)[0])


def test_unbatched_and_chained_like_keras_programs(image_dir):
    ds = bigcore.utils.image_dataset_from_directory(image_dir, batch_size=None, image_size=(6, 8), shuffle=False,
                                                    label_mode="categorical", verbose=False)
    x, y = next(iter(ds))
    assert x.shape == (6, 8, 3) and y.shape == (3,) and len(ds) == 11
    flipped = ds.map(lambda x, y: (x[:, ::-1], y)).batch(4).prefetch(buffer_size=bigcore.data.AUTOTUNE)
    xs, ys = zip(*list(flipped))
    assert [len(b) for b in xs] == [4, 4, 3]
    np.testing.assert_array_equal(xs[0][0], x[:, ::-1])
    np.testing.assert_array_equal(np.concatenate(ys), _all(ds.batch(11))[1])


def test_load_img_matches_keras(keras, image_dir):
    from keras.src.utils import image_utils as keras_image
    path = image_dir / "dogs" / "g.jpeg"
    for kw in (dict(), dict(color_mode="grayscale"), dict(color_mode="rgba", target_size=(9, 13)),
               dict(target_size=(40, 11), interpolation="bicubic"),
               dict(target_size=(8, 8), interpolation="lanczos", keep_aspect_ratio=True),
               dict(target_size=(5, 17), interpolation="box", keep_aspect_ratio=True)):
        ours, theirs = bigcore.utils.load_img(path, **kw), keras_image.load_img(path, **kw)
        assert ours.mode == theirs.mode and ours.size == theirs.size
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    raw = io.BytesIO(path.read_bytes())
    np.testing.assert_array_equal(np.asarray(bigcore.utils.load_img(raw)), np.asarray(keras_image.load_img(path)))
    assert bigcore.utils.load_img(str(image_dir / "owls" / "h.png"), color_mode="rgb").mode == "RGB"
    with pytest.raises(ValueError, match="Invalid interpolation method area"):
        bigcore.utils.load_img(path, target_size=(3, 3), interpolation="area")
    with pytest.raises(ValueError, match="color_mode"):
        bigcore.utils.load_img(path, color_mode="cmyk")
    with pytest.raises(TypeError, match="path-like"):
        bigcore.utils.load_img(3)


@pytest.mark.parametrize("shape,data_format", [((5, 7, 3), None), ((5, 7, 4), "channels_last"),
                                               ((5, 7, 1), None), ((3, 5, 7), "channels_first")])
@pytest.mark.parametrize("scale", [True, False])
def test_array_image_round_trips_match_keras(keras, tmp_path, shape, data_format, scale):
    from keras.src.utils import image_utils as keras_image
    x = np.random.default_rng(1).uniform(0, 255 if not scale else 3, size=shape)
    ours = bigcore.utils.array_to_img(x, data_format=data_format, scale=scale)
    theirs = keras_image.array_to_img(x, data_format=data_format, scale=scale)
    assert ours.mode == theirs.mode
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    back = bigcore.utils.img_to_array(ours, data_format=data_format)
    np.testing.assert_array_equal(back, keras_image.img_to_array(theirs, data_format=data_format))
    assert back.dtype == np.float32 and back.shape == shape
    bigcore.utils.save_img(tmp_path / "ours.png", x, data_format=data_format, scale=scale)
    keras_image.save_img(tmp_path / "theirs.png", x, data_format=data_format, scale=scale)
    assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "theirs.png").read_bytes()
    np.testing.assert_array_equal(bigcore.utils.img_to_array(bigcore.utils.load_img(
        tmp_path / "ours.png", color_mode={1: "grayscale", 3: "rgb", 4: "rgba"}[len(ours.getbands())]),
        data_format=data_format), back)


def test_image_helpers_details(keras, tmp_path):
    from keras.src.utils import image_utils as keras_image
    big = np.full((2, 3, 1), 300.0)
    big[0, 0] = 0
    assert bigcore.utils.array_to_img(big, scale=False).mode == "I" == keras_image.array_to_img(big, scale=False).mode
    assert bigcore.utils.img_to_array(PIL.new("L", (4, 2)), dtype="uint8").dtype == np.uint8
    rgba = np.random.default_rng(2).uniform(size=(4, 4, 4))
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        bigcore.utils.save_img(tmp_path / "a.jpg", rgba)
    with PIL.open(tmp_path / "a.jpg") as img:
        assert img.format == "JPEG" and img.mode == "RGB"
    buf = io.BytesIO()
    bigcore.utils.save_img(buf, rgba, file_format="png")
    with PIL.open(io.BytesIO(buf.getvalue())) as img:
        assert img.format == "PNG" and img.mode == "RGBA"
    with pytest.raises(ValueError, match="rank 3"):
        bigcore.utils.array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        bigcore.utils.array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="data_format"):
        bigcore.utils.img_to_array(PIL.new("L", (4, 2)), data_format="channels_middle")
    assert bigcore.preprocessing.image.load_img is bigcore.utils.load_img
    assert bigcore.preprocessing.image_dataset_from_directory is bigcore.utils.image_dataset_from_directory


@pytest.mark.parametrize("shape,size,interpolation,data_format,dtype", [
    ((13, 20, 3), (8, 8), "bilinear", "channels_last", np.float32),
    ((2, 9, 30, 1), (12, 10), "nearest", "channels_last", np.float32),
    ((3, 11, 17), (6, 9), "bilinear", "channels_first", np.float64),
    ((15, 6, 3), (10, 10), "bilinear", "channels_last", np.uint8),
])
def test_smart_resize_matches_keras(keras, shape, size, interpolation, data_format, dtype):
    rng = np.random.default_rng(3)
    x = (rng.uniform(0, 255, size=shape)).astype(dtype)
    ours = bigcore.preprocessing.image.smart_resize(x, size, interpolation=interpolation, data_format=data_format)
    theirs = keras.preprocessing.image.smart_resize(x, size, interpolation=interpolation, data_format=data_format)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1 if dtype == np.uint8 else ATOL)
    with pytest.raises(ValueError, match="lanczos3"):
        bigcore.preprocessing.image.smart_resize(x, size, interpolation="lanczos3", data_format=data_format)


@pytest.mark.parametrize("kw,match", [
    (dict(label_mode="sparse"), "`label_mode` argument must be one of"),
    (dict(labels="folders"), "should be a list/tuple of integer labels"),
    (dict(labels=[0, 1], class_names=["a"]), "only pass `class_names`"),
    (dict(labels=None, class_names=["cats"]), "class_names` cannot be specified"),
    (dict(subset="training"), "`validation_split` must be set"),
    (dict(validation_split=0.2), "`validation_split` must be set"),
    (dict(validation_split=1.5, subset="training", seed=1), "between 0 and 1"),
    (dict(validation_split=0.2, subset="train", seed=1), '"training", "validation" or "both"'),
    (dict(validation_split=0.2, subset="training"), "must provide a `seed`"),
    (dict(interpolation="bicubic"), "interpolation='bicubic'"),
    (dict(interpolation="Lanczos5"), "interpolation='lanczos5'"),
    (dict(interpolation="cubic"), "should be one of"),
    (dict(color_mode="cmyk"), "`color_mode` must be one of"),
    (dict(image_size=(3, 4, 5)), "Expected a tuple of 2 integers"),
    (dict(image_size=(0, 4)), "2 positive integers"),
    (dict(batch_size=0), "positive integer or None"),
    (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "Only one of"),
    (dict(data_format="channels_middle"), "data_format"),
    (dict(format="grain"), 'Expected format="tf"'),
    (dict(format="torch"), '`format` should be either "tf" or "grain"'),
    (dict(label_mode="binary"), "exactly 2 class_names"),
    (dict(class_names=["cats", "lions"]), "did not match the names of the subdirectories"),
])
def test_misuse_is_refused_by_name(image_dir, kw, match):
    with pytest.raises(ValueError, match=match):
        bigcore.utils.image_dataset_from_directory(image_dir, verbose=False, **kw)


def test_missing_or_empty_directories(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        bigcore.utils.image_dataset_from_directory(tmp_path / "nowhere")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    (tmp_path / "empty" / "cls" / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match=r"No images found in directory .*Allowed formats: \('.bmp'"):
        bigcore.utils.image_dataset_from_directory(tmp_path / "empty", verbose=False)


def test_without_pillow_the_error_names_the_extra(image_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "bigcore\[image\]"'):
        bigcore.utils.image_dataset_from_directory(image_dir)
    with pytest.raises(ImportError, match=r"bigcore\[image\]"):
        bigcore.utils.load_img(image_dir / "cats" / "a.png")


def test_an_image_model_trains_on_the_dataset(image_dir, seed):
    train, val = bigcore.utils.image_dataset_from_directory(image_dir, validation_split=0.3, subset="both", seed=3,
                                                            image_size=(16, 16), batch_size=4, verbose=False)
    model = bigcore.Sequential([bigcore.Input((16, 16, 3)), layers.Rescaling(1.0 / 255), layers.Conv2D(4, 3),
                                layers.MaxPooling2D(), layers.Flatten(), layers.Dense(len(train.class_names),
                                                                                      activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    augment = bigcore.Sequential([layers.RandomFlip("horizontal")])  # as Keras's image tutorials chain it
    augmented = train.map(lambda x, y: (augment(x, training=True), y)).prefetch(buffer_size=bigcore.data.AUTOTUNE)
    history = model.fit(augmented, validation_data=val, epochs=1, verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, acc = model.evaluate(val, verbose=0)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert model.predict(val.map(lambda x, y: x), verbose=0).shape == (3, 3)
