"""Reading the data that Keras's data sets ship as pickles (the CIFAR batches, Reuters's object
arrays) without unpickling: the opcode stream is walked with pickletools.genops and only plain
data is built from it, dicts, lists, tuples, ints, floats, bytes, str, None, booleans, and numpy
arrays through the three globals numpy's own pickles name (its array reconstructor, ndarray and
dtype), each accepted in the one form numpy writes. Any other opcode or global (a function, a
class, os.system) is refused with a ValueError before anything is called; nothing is imported
or run.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
import zlib

import numpy as np

_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_RECONSTRUCT = {(m, "_reconstruct") for m in _MULTIARRAY}
_NDARRAY = ("numpy", "ndarray")
_DTYPE = ("numpy", "dtype")
# Plain dtypes numpy may pickle an array with (no structured or datetime dtypes).
_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1", "O8"}

_PUSH_CONST = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_INTS = {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG"}
_TEXT = {"SHORT_BINSTRING", "BINSTRING", "STRING"}  # Python 2 str: bytes (Keras reads with encoding="bytes")
_BYTES = {"SHORT_BINBYTES", "BINBYTES", "BINBYTES8"}
_UNICODE = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}


class _Global:
    def __init__(self, module, name):
        self.module, self.name = module, name


class _Array:
    """An ndarray being rebuilt: _reconstruct(ndarray, (0,), b'b'), then BUILD with its state."""

    value = None


class _DType:
    def __init__(self, code):
        self.code = code
        self.order = None


class _Mark:
    pass


def _refuse(source, what):
    return ValueError(f"{source}: refusing to read this pickle: {what}. Only plain data (dicts, lists, "
                      "numbers, strings, numpy arrays) is read from a data file; nothing is unpickled")


def _text(arg):
    # pickletools decodes Python 2 strings as latin-1: back to the bytes they were
    return arg.encode("latin-1")


def _as_str(v):
    """A Python 2 str (read as bytes) where numpy wrote a str: its text."""
    return v.decode("latin-1") if isinstance(v, bytes) else v


def _dtype_from(code, order, source):
    if code not in _DTYPES:
        raise _refuse(source, f"numpy dtype {code!r}")
    if code == "O8":
        return np.dtype(object)
    if order not in ("|", "<", ">"):
        raise _refuse(source, f"byte order {order!r} of dtype {code!r}")
    return np.dtype(code).newbyteorder(order if order != "|" else "=")


def _build_array(arr, state, source):
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1 and isinstance(state[1], tuple)
            and isinstance(state[2], _DType) and state[3] in (False, 0)):
        raise _refuse(source, "an ndarray state other than (1, shape, dtype, False, data)")
    shape, dt, data = state[1], state[2], state[4]
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _refuse(source, f"array shape {shape!r}")
    dtype = _dtype_from(dt.code, dt.order, source)
    count = int(np.prod(shape, dtype=np.int64))
    if dtype == object:
        if not isinstance(data, list) or len(data) != count:
            raise _refuse(source, "an object array whose data is not a list of its elements")
        out = np.empty(count, dtype=object)
        for i, v in enumerate(data):
            out[i] = v
        arr.value = out.reshape(shape)
        return
    if not isinstance(data, bytes) or len(data) != count * dtype.itemsize:
        raise _refuse(source, f"array data of {type(data).__name__} for shape {shape} {dtype}")
    arr.value = np.frombuffer(data, dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _reduce(fn, args, source):
    key = (fn.module, fn.name)
    if key in _RECONSTRUCT:
        if (len(args) == 3 and isinstance(args[0], _Global) and (args[0].module, args[0].name) == _NDARRAY
                and args[1] == (0,) and args[2] in (b"b", "b")):
            return _Array()
        raise _refuse(source, "numpy's _reconstruct with arguments other than (ndarray, (0,), b'b')")
    if key == _DTYPE:
        if len(args) == 3 and isinstance(args[0], (str, bytes)) and args[1] in (0, False) and args[2] in (1, True):
            return _DType(_as_str(args[0]))
        raise _refuse(source, f"numpy.dtype{args!r}")
    raise _refuse(source, f"a call of {fn.module}.{fn.name}")


def _build(obj, state, source):
    if isinstance(obj, _Array) and obj.value is None:
        _build_array(obj, state, source)
    elif isinstance(obj, _DType) and obj.order is None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags): a plain dtype's
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
                and state[2:5] == (None, None, None)):
            raise _refuse(source, f"a dtype state {state!r}")
        obj.order = _as_str(state[1])
    else:
        raise _refuse(source, f"BUILD on {type(obj).__name__}")


def _plain(obj, source):
    """The parsed value with numpy arrays in place of the stand-ins; refuses any left unbuilt."""
    if isinstance(obj, _Array):
        if obj.value is None:
            raise _refuse(source, "an ndarray without its state")
        if obj.value.dtype == object:
            flat = obj.value.reshape(-1)
            for i in range(len(flat)):
                flat[i] = _plain(flat[i], source)
        return obj.value
    if isinstance(obj, (_Global, _DType, _Mark)):
        raise _refuse(source, f"a bare {type(obj).__name__.strip('_').lower()} as a value")
    if isinstance(obj, dict):
        return {_plain(k, source): _plain(v, source) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v, source) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v, source) for v in obj)
    return obj


def read_pickled_data(data: bytes, source: str = "<bytes>"):
    """The plain data a pickle of dicts, lists, numbers, strings and numpy arrays holds (module
    docstring); a ValueError naming `source` for anything else, or for a malformed stream."""
    stack, memo = [], {}

    def pop_mark():
        for i in range(len(stack) - 1, -1, -1):
            if isinstance(stack[i], _Mark):
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise _refuse(source, "no MARK")

    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1:
                    raise _refuse(source, "a malformed stream")
                return _plain(stack[0], source)
            if name in _PUSH_CONST:
                stack.append(_PUSH_CONST[name])
            elif name in _INTS:
                stack.append(int(arg))
            elif name in ("BINFLOAT", "FLOAT"):
                stack.append(float(arg))
            elif name in _TEXT:
                stack.append(_text(arg))
            elif name in _BYTES:
                stack.append(bytes(arg))
            elif name in _UNICODE:
                stack.append(arg)
            elif name == "MARK":
                stack.append(_Mark())
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name == "LIST":
                stack.append(pop_mark())
            elif name == "DICT":
                items = pop_mark()
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "APPEND":
                v = stack.pop()
                stack[-1].append(v)
            elif name == "APPENDS":
                items = pop_mark()
                stack[-1].extend(items)
            elif name == "SETITEM":
                v, k = stack.pop(), stack.pop()
                stack[-1][k] = v
            elif name == "SETITEMS":
                items = pop_mark()
                stack[-1].update(zip(items[::2], items[1::2]))
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                stack.append(memo[arg])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = arg.partition(" ")
                else:
                    attr = stack.pop()
                    module = stack.pop()
                if (module, attr) not in _RECONSTRUCT | {_NDARRAY, _DTYPE}:
                    raise _refuse(source, f"the global {module}.{attr}")
                stack.append(_Global(module, attr))
            elif name == "REDUCE":
                args, fn = stack.pop(), stack.pop()
                if not isinstance(fn, _Global) or not isinstance(args, tuple):
                    raise _refuse(source, "a call of something other than a global")
                stack.append(_reduce(fn, args, source))
            elif name == "BUILD":
                state = stack.pop()
                _build(stack[-1], state, source)
            else:
                raise _refuse(source, f"the opcode {name}")
    except (ValueError, IndexError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(f"{source}: refusing"):
            raise
        raise ValueError(f"{source}: not a readable pickle of plain data ({exc})") from exc
    raise ValueError(f"{source}: not a readable pickle of plain data (no STOP)")


def read_npz_plain(path, keys) -> dict:
    """The named arrays of an .npz archive, object arrays included (Keras's ragged sequences):
    their .npy payload, a pickle, is read by read_pickled_data, never unpickled. Missing names are
    absent from the dict; every failure to read is a ValueError naming the file."""
    out = {}
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for key in keys:
                if f"{key}.npy" not in names:
                    continue
                with archive.open(f"{key}.npy") as fp:
                    version = np.lib.format.read_magic(fp)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read(fp)
                    if dtype != object:
                        fp.close()
                        with archive.open(f"{key}.npy") as again:
                            out[key] = np.lib.format.read_array(again, allow_pickle=False)
                        continue
                    value = read_pickled_data(fp.read(), f"{path}:{key}.npy")
                if not isinstance(value, np.ndarray) or value.shape != tuple(shape):
                    raise ValueError(f"{key}.npy does not hold the {tuple(shape)} object array its header names")
                out[key] = value
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    return out
