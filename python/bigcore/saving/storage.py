"""How a weight tensor is stored in a .bigcore file: dense, or, when smaller, a bitmask or CSR
layout of its non-zero entries (float32 values, or int8 values of a quantized layer, whose scales
are their own dense tensor). Chosen per tensor; decoding restores the exact bits.

    dense    "%04d:<name>"                       the tensor itself
    bitmask  "%04d.mask:<name>"    U8 (ceil(n/8))  bit i (little-endian bit order) = entry i is non-zero
             "%04d.values:<name>"  (nnz)           the non-zero entries in C order
    csr      "%04d.indptr:<name>"  I32 (rows + 1)  over the (shape[0], rest) view (1-D: one row)
             "%04d.indices:<name>" U16 (nnz)       column of each entry, ascending within a row
             "%04d.values:<name>"  (nnz)

"Zero" means all bits zero: -0.0 is stored as a value, so decoding gives back the same bits.
CSR is offered only for rows of at most 65536 columns and where it keeps at least 1/1024 of the
dense bytes, so the loader can bound what a file declares (load_model's allocation budget, api.py).
Packing and unpacking are vectorized numpy (this runs at save/load time only).
"""

import math

import numpy as np

CSR_MAX_COLS = 1 << 16
CSR_MAX_RATIO = 1024  # dense bytes <= CSR_MAX_RATIO * CSR bytes
BITMASK_MAX_RATIO = 32  # float32: 32 dense bits per mask bit, the most a bitmask can shrink
LAYOUTS = ("dense", "bitmask", "csr")
_PARTS = {"bitmask": ("mask", "values"), "csr": ("indptr", "indices", "values")}


def _nonzero(value):
    """Bitwise non-zero entries of a float32 or int8 array, flattened."""
    flat = np.ascontiguousarray(value).reshape(-1)
    return flat.view(np.uint32 if flat.dtype.itemsize == 4 else np.uint8) != 0


def _rows_cols(shape):
    n = math.prod(shape)
    rows = shape[0] if len(shape) >= 2 else 1
    return rows, (n // rows if rows else 0)


def sizes(value, nnz=None):
    """{layout: stored bytes} for each layout `value` can take."""
    value = np.asarray(value)
    n, item = value.size, value.dtype.itemsize
    if nnz is None:
        nnz = int(np.count_nonzero(_nonzero(value)))
    out = {"dense": n * item, "bitmask": (n + 7) // 8 + nnz * item}
    rows, cols = _rows_cols(value.shape)
    csr = 4 * (rows + 1) + nnz * (2 + item)
    if n and cols <= CSR_MAX_COLS and n * item <= CSR_MAX_RATIO * csr:
        out["csr"] = csr
    return out


def choose(value):
    """(layout, stored bytes): the smallest layout, dense on ties."""
    s = sizes(value)
    layout = min(LAYOUTS, key=lambda k: (s.get(k, math.inf), LAYOUTS.index(k)))
    return layout, s[layout]


def encode(index, name, value):
    """{key: array} storing weight number `index` called `name` in its smallest layout."""
    value = np.ascontiguousarray(value).reshape(np.shape(value))  # a scalar weight stays 0-D
    layout, _ = choose(value)
    if layout == "dense":
        return {f"{index:04d}:{name}": value}
    nz = _nonzero(value)
    key = lambda part: f"{index:04d}.{part}:{name}"
    values = value.reshape(-1)[nz]
    if layout == "bitmask":
        return {key("mask"): np.packbits(nz, bitorder="little"), key("values"): values}
    rows, cols = _rows_cols(value.shape)
    per_row = nz.reshape(rows, cols).sum(axis=1, dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    indices = (np.flatnonzero(nz) % cols).astype(np.uint16)
    return {key("indptr"): indptr, key("indices"): indices, key("values"): values}


def encode_all(tensors):
    """Dense {"%04d:<name>": array} -> the stored tensors, and whether any is not dense."""
    out, sparse = {}, False
    for key, value in tensors.items():
        idx, _, name = key.partition(":")
        enc = encode(int(idx), name, value)
        sparse = sparse or len(enc) > 1
        out.update(enc)
    return out, sparse


def split_key(key):
    """"0003.mask:dense/kernel" -> ("0003", "mask", "dense/kernel"); a dense key gives part None."""
    head, _, name = key.partition(":")
    idx, _, part = head.partition(".")
    return idx, (part or None), name


def extra_budget(header):
    """Bytes beyond the stored ones that the sparse tensors of a safetensors header may decode to
    (a bound: bitmask n <= 8 x mask bytes; CSR dense bytes <= CSR_MAX_RATIO x its bytes)."""
    groups = {}
    for key, spec in header.items():
        if key == "__metadata__" or not isinstance(spec, dict):
            continue
        idx, part, _ = split_key(key)
        offsets = spec.get("data_offsets")
        if part is None or not (isinstance(offsets, list) and len(offsets) == 2):
            continue
        try:
            nbytes = int(offsets[1]) - int(offsets[0])
        except (TypeError, ValueError):
            continue
        g = groups.setdefault(idx, {})
        g[part] = g.get(part, 0) + max(nbytes, 0)
    extra = 0
    for g in groups.values():
        if "mask" in g:
            extra += BITMASK_MAX_RATIO * g["mask"]
        elif "indptr" in g:
            extra += CSR_MAX_RATIO * sum(g.values())
    return extra


def decode_all(where, tensors, weights):
    """Stored tensors -> dense {"%04d:<name>": array}; `weights` (the model's, in order) give each
    sparse tensor's shape and dtype. Raises ValueError naming `where` on any inconsistency."""
    out, groups = {}, {}
    for key, value in tensors.items():
        idx, part, name = split_key(key)
        if part is None:
            out[key] = value
            continue
        if not idx.isdigit() or int(idx) >= len(weights):
            raise ValueError(f"{where}: unexpected tensor {key!r}; the model has {len(weights)} weights")
        groups.setdefault(idx, {})[part] = (key, name, value)
    for idx, parts in groups.items():
        names = {name for _, name, _ in parts.values()}
        layout = next((k for k, p in _PARTS.items() if set(parts) == set(p)), None)
        if layout is None or len(names) != 1:
            raise ValueError(f"{where}: weight {idx} is stored as parts {sorted(parts)} under names {sorted(names)}; "
                             "expected one name with parts mask+values (bitmask) or indptr+indices+values (csr)")
        w = weights[int(idx)]
        dense_key = f"{idx}:{names.pop()}"
        if dense_key in out:
            raise ValueError(f"{where}: weight {idx} is stored both dense and as {layout}")
        arrays = {p: v for p, (_, _, v) in parts.items()}
        out[dense_key] = _decode(f"{where}: weight {dense_key!r} ({layout})", layout, arrays, w.shape,
                                 np.dtype(getattr(w, "dtype", np.float32)))
    return out


def _decode(where, layout, a, shape, dtype):
    n = math.prod(shape)
    values = a["values"]
    if values.dtype != dtype or values.ndim != 1:
        raise ValueError(f"{where}: values are {values.dtype} of shape {values.shape}, expected 1-D {dtype}")
    flat = np.zeros(n, dtype)
    if layout == "bitmask":
        mask = a["mask"]
        if mask.dtype != np.uint8 or mask.shape != ((n + 7) // 8,):
            raise ValueError(f"{where}: the mask is {mask.dtype} of shape {mask.shape}, expected uint8 of "
                             f"shape ({(n + 7) // 8},) for {n} entries")
        bits = np.unpackbits(mask, bitorder="little")
        if bits[n:].any():
            raise ValueError(f"{where}: the mask has bits set past entry {n}")
        keep = bits[:n].astype(bool)
        if int(np.count_nonzero(keep)) != values.size:
            raise ValueError(f"{where}: the mask marks {int(np.count_nonzero(keep))} entries but "
                             f"{values.size} values are stored")
        flat[keep] = values
        return flat.reshape(shape)
    indptr, indices = a["indptr"], a["indices"]
    rows, cols = _rows_cols(shape)
    if indptr.dtype != np.int32 or indptr.shape != (rows + 1,):
        raise ValueError(f"{where}: indptr is {indptr.dtype} of shape {indptr.shape}, expected int32 of shape ({rows + 1},)")
    if indices.dtype != np.uint16 or indices.shape != values.shape:
        raise ValueError(f"{where}: indices are {indices.dtype} of shape {indices.shape}, expected uint16 of "
                         f"shape {values.shape}")
    counts = np.diff(indptr.astype(np.int64))
    if indptr[0] != 0 or (counts < 0).any() or int(indptr[-1]) != values.size:
        raise ValueError(f"{where}: indptr must rise from 0 to the {values.size} stored values")
    if values.size and int(indices.max()) >= cols:
        raise ValueError(f"{where}: a column index is >= {cols}, the number of columns")
    pos = np.repeat(np.arange(rows, dtype=np.int64) * cols, counts) + indices
    if values.size > 1 and (np.diff(pos) <= 0).any():
        raise ValueError(f"{where}: column indices must ascend strictly within each row")
    flat[pos] = values
    return flat.reshape(shape)
