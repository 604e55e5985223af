"""The .bigcore container: a zip of config.json and safetensors members, written atomically and
read defensively (the hardened reader: every declared size is checked against a bound before
anything is read, and any defect becomes a ValueError that names the file and what is wrong).

    config.json                 {"format": "bigcore", "format_version": 1 or 2, "class_name", "config",
                                 "compile_config", "training_state", and the registered states}
    model.weights.safetensors   model.weights in order, keyed "%04d:<weight path>" (storage.py)
    optimizer.safetensors       the native optimizer slots ("slot_%d", one arena each)
"""

import contextlib
import json
import math
import os
import secrets
import struct
import zipfile
import zlib

import numpy as np
import safetensors
import safetensors.numpy

FORMAT = "bigcore"
FORMAT_VERSION = 2  # 2: sparse weight layouts; files without them are still written as 1
CONFIG = "config.json"
WEIGHTS = "model.weights.safetensors"
OPTIMIZER = "optimizer.safetensors"
MEMBERS = (CONFIG, WEIGHTS, OPTIMIZER)
MODEL_SUFFIX = ".bigcore"
WEIGHTS_SUFFIX = ".weights.safetensors"

_MAX_CONFIG_BYTES = 64 << 20
# A safetensors header is JSON: ~100 bytes per tensor plus the metadata we write.
_HEADER_BYTES_BASE = 1 << 20
_HEADER_BYTES_PER_TENSOR = 4096
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model gives the same bytes
# Deflate expands at most ~1032:1; a member declaring more than this is lying.
_MAX_INFLATION = 1100
_INFLATION_SLACK = 1 << 20
# float weights, the int8 weights of quantized layers, and the masks and indices of sparse layouts
_ITEMSIZE = {"F32": 4, "I8": 1, "U8": 1, "U16": 2, "I32": 4}


# --- writing ----------------------------------------------------------------------------------

def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def json_dumps(obj, **kwargs):
    return json.dumps(obj, default=_json_default, **kwargs)


def json_bytes(obj):
    return json_dumps(obj, indent=1, allow_nan=True).encode("utf-8")


def tensors_bytes(tensors):
    # one metadata key: safetensors writes a map of several in an unstable order
    return safetensors.numpy.save(tensors, metadata={"format": FORMAT})


def write_zip(f, members):
    with zipfile.ZipFile(f, "w") as zf:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)


def atomic_write(path, write):
    """write(file) into a temporary sibling of `path`, then rename it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory):
    """Makes the rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_suffix(filepath, suffix, what):
    path = os.fspath(filepath)
    if not isinstance(path, str) or not path.endswith(suffix):
        raise ValueError(f"The filepath given to {what}() must end in `{suffix}`. Received: filepath={path}")
    return path


def check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")


# --- reading ----------------------------------------------------------------------------------

@contextlib.contextmanager
def open_archive(path):
    """The open zip and its members by name, after checking the member list."""
    if not os.path.isfile(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible "
                         f"`{MODEL_SUFFIX}` file.")
    with open(path, "rb") as f:
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
            raise ValueError(f"{path} is not a bigcore model file: it is not a zip archive, or it is "
                             f"truncated ({e})") from None
        with zf:
            infos = {}
            for info in zf.infolist():
                name = info.filename
                if name not in MEMBERS:
                    raise ValueError(f"{path}: unexpected member {name!r} in the archive (a bigcore file "
                                     f"holds only {', '.join(MEMBERS)})")
                if name in infos:
                    raise ValueError(f"{path}: the member {name!r} appears twice")
                if info.flag_bits & 0x1:
                    raise ValueError(f"{path}: the member {name!r} is encrypted")
                if info.file_size > _MAX_INFLATION * info.compress_size + _INFLATION_SLACK:
                    raise ValueError(f"{path}: the member {name!r} declares {info.file_size} bytes from "
                                     f"{info.compress_size} compressed bytes, more than deflate can give "
                                     "(a zip bomb?)")
                infos[name] = info
            for name in (CONFIG, WEIGHTS):
                if name not in infos:
                    raise ValueError(f"{path}: the member {name!r} is missing; the file is not a complete "
                                     "bigcore model")
            yield zf, infos


def read_member(path, zf, info, limit):
    if info.file_size > limit:
        raise ValueError(f"{path}: the member {info.filename!r} declares {info.file_size} bytes, more than "
                         f"the {limit} it can legitimately hold")
    try:
        with zf.open(info) as m:
            data = m.read(limit + 1)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError, zlib.error,
            ValueError) as e:
        raise ValueError(f"{path}: cannot read the member {info.filename!r}; the file is corrupt or "
                         f"truncated ({e})") from None
    if len(data) != info.file_size:
        raise ValueError(f"{path}: the member {info.filename!r} holds {len(data)} bytes but declares "
                         f"{info.file_size}")
    return data


def read_config(path, zf, infos):
    data = read_member(path, zf, infos[CONFIG], _MAX_CONFIG_BYTES)
    try:
        config = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"{path}: {CONFIG} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else config
        raise ValueError(f"{path}: {CONFIG} does not describe a bigcore model (expected "
                         f'"format": "{FORMAT}", got {short(got)})')
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: bad format_version {version!r} in {CONFIG}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} has format_version {version}; this bigcore reads up to {FORMAT_VERSION}. "
                         "Upgrade bigcore to load it.")
    # a subclassed model names its own class: the registry checks it (load_model, custom_objects in scope)
    if not isinstance(config.get("class_name"), str) or not config["class_name"]:
        raise ValueError(f"{path}: unknown model class {short(config.get('class_name'))} in {CONFIG}")
    if not isinstance(config.get("config"), dict):
        raise ValueError(f"{path}: {CONFIG} has no model config")
    for key in ("compile_config", "training_state"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise ValueError(f"{path}: {key} in {CONFIG} must be an object, got {short(config[key])}")
    return config


def tensor_limit(shapes):
    """The most bytes a safetensors file of tensors of these float32 shapes can legitimately take."""
    return 8 + _HEADER_BYTES_BASE + _HEADER_BYTES_PER_TENSOR * len(shapes) + 4 * sum(math.prod(s) for s in shapes)


def read_tensors(path, zf, infos, name, limit):
    return parse_tensors(path, name, read_member(path, zf, infos[name], limit))


def header(data):
    """The safetensors header of `data` as a dict, or {} when it is not readable (parsing reports why)."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        head = json.loads(data[8:8 + n].decode("utf-8")) if n <= len(data) - 8 else {}
    except (struct.error, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return head if isinstance(head, dict) else {}


def parse_tensors(path, name, data):
    """Checks the safetensors header (float32 or int8 only, sizes consistent) then decodes it."""
    where = f"{path}: {name}"
    if len(data) < 8:
        raise ValueError(f"{where} is truncated: {len(data)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{where}: the header claims {n} bytes but only {len(data) - 8} follow")
    try:
        head = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"{where}: the safetensors header is not valid JSON ({e})") from None
    if not isinstance(head, dict):
        raise ValueError(f"{where}: the safetensors header is not an object")
    body = len(data) - 8 - n
    for key, spec in head.items():
        if key == "__metadata__":
            continue
        if not isinstance(spec, dict) or spec.get("dtype") not in _ITEMSIZE:
            raise ValueError(f"{where}: tensor {key!r} is {short(spec)}; expected dtype F32 or I8 "
                             "(U8, U16, I32 for sparse layouts)")
        shape, offsets = spec.get("shape"), spec.get("data_offsets")
        if (not isinstance(shape, list) or not all(is_count(d) for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2 or not all(is_count(o) for o in offsets)):
            raise ValueError(f"{where}: tensor {key!r} has a malformed shape or data_offsets: {short(spec)}")
        if not offsets[0] <= offsets[1] <= body or offsets[1] - offsets[0] != _ITEMSIZE[spec["dtype"]] * math.prod(shape):
            raise ValueError(f"{where}: tensor {key!r} claims shape {shape} at bytes {offsets}, which the "
                             f"{body}-byte data section does not hold")
    try:
        return safetensors.numpy.load(bytes(data))
    except safetensors.SafetensorError as e:
        raise ValueError(f"{where} is not a valid safetensors file ({e})") from None


def is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 62


def short(v, n=120):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."
