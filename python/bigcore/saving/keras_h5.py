"""HDF5 access for Keras files, through h5py (an optional dependency: the `keras` extra), read
defensively: only hard links are followed, datasets must be plain numeric arrays stored in the
file itself (no external or virtual storage) of exactly the shape the model expects, and every
defect becomes a ValueError that names the file. The file's size is checked against what the
model can hold before h5py opens it, so a hostile file cannot make the reader allocate more."""

import io
import math

import numpy as np

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 bookkeeping per group / dataset (object headers, B-trees, local heaps) on top of the data.
OVERHEAD_BASE = 1 << 20
OVERHEAD_PER_ENTRY = 16 << 10
_KINDS = "fiub"  # float, signed, unsigned, bool
# what h5py raises on a damaged file (an overflowing size field surfaces as OverflowError)
_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError, OverflowError, IndexError, AttributeError,
           SystemError, MemoryError)


def h5py_module():
    """h5py, or an ImportError naming the extra that installs it."""
    try:
        import h5py  # noqa: PLC0415  (optional: the keras extra; .bigcore files never need it)
    except ImportError:
        raise ImportError('Keras files (.keras, .weights.h5, .h5) need h5py: run `pip install "bigcore[keras]"`') \
            from None
    return h5py


def size_limit(n_entries, value_bytes):
    """The most bytes an HDF5 file of n_entries groups and datasets holding value_bytes can take."""
    return OVERHEAD_BASE + OVERHEAD_PER_ENTRY * n_entries + 2 * value_bytes


def open_bytes(where, data):
    """An h5py.File over bytes already read (and bounded) by the caller."""
    h5py = h5py_module()
    if data[:8] != HDF5_SIGNATURE:
        raise ValueError(f"{where} is not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(io.BytesIO(data), "r")
    except _ERRORS as e:
        raise ValueError(f"{where} is not a readable HDF5 file ({type(e).__name__}: {e})") from None


def open_path(path):
    """An h5py.File on disk (read lazily: a legacy model file is read before its model is known, so
    its size bounds nothing; each dataset is checked against the model's shapes before it is read)."""
    h5py = h5py_module()
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file ({e})") from None
    if head != HDF5_SIGNATURE:
        raise ValueError(f"{path} is not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(path, "r")
    except _ERRORS as e:
        raise ValueError(f"{path} is not a readable HDF5 file ({type(e).__name__}: {e})") from None


def read_bounded(path, limit, what):
    """The bytes of the file at `path`, refused when larger than `limit`."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file ({e})") from None
    if len(data) > limit:
        raise ValueError(f"{path}: the file is larger than the {limit} bytes {what} can take; it is not this "
                         "model's file")
    return data


def _link_ok(h5py, parent, name, where):
    try:
        link = parent.get(name, default=None, getlink=True)
    except _ERRORS as e:
        raise ValueError(f"{where}: cannot read the entry {name!r} ({type(e).__name__}: {e})") from None
    if link is None:
        return False
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"{where}: the entry {name!r} is a {type(link).__name__}; only plain entries are read")
    return True


def group(parent, path, where, required=True):
    """The group at `path` (slash-separated) under `parent`, each step a hard link; None if absent
    and not required."""
    h5py = h5py_module()
    node = parent
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, h5py.Group) or not _link_ok(h5py, node, part, where):
            if required:
                raise ValueError(f"{where}: the group {path!r} is missing")
            return None
        try:
            node = node[part]
        except _ERRORS as e:
            raise ValueError(f"{where}: cannot open {path!r} ({type(e).__name__}: {e})") from None
    if not isinstance(node, h5py.Group):
        raise ValueError(f"{where}: {path!r} is not a group")
    return node


def keys(grp, where):
    try:
        return [k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in grp.keys()]
    except _ERRORS as e:
        raise ValueError(f"{where}: cannot list the group ({type(e).__name__}: {e})") from None


def dataset(grp, key, where, shape=None):
    """The numeric dataset `key` of `grp` as a NumPy array (of `shape` when given; "vector": 1-D)."""
    h5py = h5py_module()
    try:
        name = f"{grp.name}/{key}"
    except _ERRORS:
        name = key
    if not _link_ok(h5py, grp, key, where):
        raise ValueError(f"{where}: the dataset {name!r} is missing")
    try:
        ds = grp[key]
        if not isinstance(ds, h5py.Dataset):
            raise ValueError(f"{where}: {name!r} is not a dataset")
        if ds.external:
            raise ValueError(f"{where}: {name!r} keeps its data in external files ({ds.external}); refused")
        if ds.is_virtual:
            raise ValueError(f"{where}: {name!r} is a virtual dataset; refused")
        if ds.dtype.kind not in _KINDS or ds.dtype.itemsize > 8:
            raise ValueError(f"{where}: {name!r} holds {ds.dtype}, not numbers")
        if shape == "vector":
            if ds.ndim != 1:
                raise ValueError(f"{where}: {name!r} has shape {tuple(ds.shape)}, but the model expects a vector")
        elif shape is not None and tuple(ds.shape) != tuple(shape):
            raise ValueError(f"{where}: {name!r} has shape {tuple(ds.shape)}, but the model expects {tuple(shape)}")
        if ds.shape is None or math.prod(ds.shape) > (1 << 34):
            raise ValueError(f"{where}: {name!r} has an unreadable shape {ds.shape}")
        return np.array(ds[()])
    except ValueError as e:
        if str(e).startswith(str(where)):
            raise
        raise ValueError(f"{where}: cannot read {name!r} ({e})") from None
    except _ERRORS as e:
        raise ValueError(f"{where}: cannot read {name!r} ({type(e).__name__}: {e})") from None


MAX_ATTRIBUTE = 64 << 20  # as the .bigcore reader bounds config.json


def attr(obj, key, where, default=None):
    """A string or array attribute (decoded), or default; refused past MAX_ATTRIBUTE bytes."""
    try:
        if key not in obj.attrs:
            return default
        try:
            size = obj.attrs.get_id(key).get_storage_size()
        except RuntimeError:  # HDF5 reports an empty attribute's size as an error
            size = 0
        if size > MAX_ATTRIBUTE:
            raise ValueError(f"{where}: the attribute {key!r} holds {size} bytes, more than the {MAX_ATTRIBUTE} read")
        value = obj.attrs[key]
    except ValueError as e:
        if str(e).startswith(str(where)):
            raise
        raise ValueError(f"{where}: cannot read the attribute {key!r} ({e})") from None
    except _ERRORS as e:
        raise ValueError(f"{where}: cannot read the attribute {key!r} ({type(e).__name__}: {e})") from None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.size == 0:
        return []
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in value.tolist()]
    return value
