"""Fashion-MNIST (Zalando): 70,000 28x28 grayscale clothing images in 10 classes.

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot.
"""

from __future__ import annotations

from pathlib import Path

from . import _files

NAME = "fashion-mnist"

# Where Debian's `dataset-fashion-mnist` package puts the four .gz files.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

# Zalando's bucket is canonical; S3 website endpoints serve plain HTTP only, which is
# safe here because every file is checked against SHA256. Keras's mirror is the fallback.
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)

# SHA-256 of the *uncompressed* IDX files. The gzip wrappers differ between upstream and
# Debian (Debian's are re-gzipped without a file name), the payloads are byte-identical.
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def load_data():
    """Return `(x_train, y_train), (x_test, y_test)` as uint8 numpy arrays.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28),
    y_test (10000,). Looks in $BIGCORE_DATA, $BIGCORE_DATA/fashion-mnist,
    ~/.bigcore/datasets/fashion-mnist and /usr/share/datasets/fashion-mnist, in that
    order, and otherwise downloads into the cache.
    """
    dirs = _files.search_dirs(NAME, SYSTEM_DIR)
    paths = _files.find_set(dirs, _files.IDX_STEMS)
    if paths is None:
        paths = _download(dirs)
    return _files.load_idx_set(paths)


def _download(dirs: list[Path]) -> list[Path]:
    cache = _files.cache_dir(NAME)
    try:
        # Files already in the cache are kept, so an interrupted download resumes.
        return [_files.find_file(cache, stem) or _fetch(cache, stem) for stem in _files.IDX_STEMS]
    except OSError as exc:
        raise _files.not_found(NAME, dirs, _files.IDX_STEMS, exc) from exc


def _fetch(cache: Path, stem: str) -> Path:
    urls = [f"{mirror}{stem}.gz" for mirror in MIRRORS]
    return _files.download(urls, cache / f"{stem}.gz", SHA256[stem], _files.content_sha256)
