"""StringLookup and IntegerLookup: tokens <-> indices by a vocabulary given or learned by adapt(),
with Keras's index layout: [mask token (int mode)] + [OOV indices] + the vocabulary."""

import collections

import numpy as np

from bigcore.layers.preprocessing.base import InputSideLayer, batches_of, check_int, encode_categorical, encoded_shape
from bigcore.layers.preprocessing.hashing import hash_buckets, parse_salt
from bigcore.layers.registry import register

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
MAX_VOCABULARY = 1 << 24  # ids reach native programs as float32, exact up to 2**24


class IndexLookup(InputSideLayer):
    """The shared machinery; `_string` says whether tokens are strings (else int64)."""

    _string = True

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary=None, idf_weights=None,
                 invert=False, output_mode="int", sparse=False, pad_to_max_tokens=False, oov_method="floormod",
                 salt=None, vocabulary_size=None, has_input_vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer))
                                       or max_tokens <= 1):
            raise ValueError(f"If set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"If pad_to_max_tokens is True, must set `max_tokens`. Received: max_tokens={max_tokens}")
        num_oov_indices = check_int("num_oov_indices", num_oov_indices, 0)
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"Invalid value for argument oov_method. Expected one of ('floormod', 'farmhash'). "
                             f"Received: oov_method={oov_method}")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in _MODES:
            raise ValueError(f"Invalid value for argument output_mode. Expected one of {_MODES}. "
                             f"Received: output_mode={output_mode}")
        if invert and output_mode != "int":
            raise ValueError(f"`output_mode` must be `'int'` when `invert` is true. Received: output_mode={output_mode}")
        if sparse:
            raise ValueError(f"{type(self).__name__}: sparse=True needs TensorFlow's sparse tensors; bigcore returns "
                             "dense arrays")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError("`idf_weights` should only be set if `output_mode` is `'tf_idf'`. "
                             f"Received: idf_weights={idf_weights} and output_mode={output_mode}")
        if salt is not None and not self._string and oov_method != "farmhash":
            raise ValueError(f"`salt` can only be used when `oov_method='farmhash'`. Received: oov_method={oov_method}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices, self.mask_token, self.oov_token = num_oov_indices, mask_token, oov_token
        self.invert, self.output_mode, self.sparse = bool(invert), output_mode, False
        self.pad_to_max_tokens, self.oov_method = bool(pad_to_max_tokens), oov_method
        self.salt = parse_salt(salt, type(self).__name__)
        self.output_dtype = (("string" if self._string else "int64") if invert else
                             ("int64" if output_mode == "int" else "float32"))
        self.input_vocabulary = None if isinstance(vocabulary, str) else (
            None if vocabulary is None else list(np.asarray(vocabulary).tolist()))
        self.input_idf_weights = None if idf_weights is None else list(np.asarray(idf_weights, np.float64).tolist())
        self._has_input_vocabulary = (vocabulary is not None) if has_input_vocabulary is None else has_input_vocabulary
        self._frozen_vocab_size = vocabulary_size
        self._tokens = []       # the vocabulary without the special tokens
        self._index = {}        # token -> index
        self._idf = None        # float32 (depth,), tf_idf only
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError("When specifying the `vocabulary` argument, in TF-IDF output mode, the `idf_weights` "
                             "argument must also be provided.")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- the index layout --
    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def vocabulary_size(self):
        """The size of the vocabulary, mask and OOV indices included."""
        return len(self._tokens) + self._token_start()

    def _depth(self):
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self._frozen_vocab_size is None:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, you must "
                               "set the layer's vocabulary before calling it. Either pass a `vocabulary` argument to "
                               "the layer, or call `adapt` with some sample data.")
        return self._frozen_vocab_size

    def get_vocabulary(self, include_special_tokens=True):
        specials = [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices
        return (specials if include_special_tokens else []) + list(self._tokens)

    # -- setting the vocabulary --
    def _token(self, v):
        if self._string:
            if isinstance(v, bytes):
                return v.decode("utf-8")
            if not isinstance(v, str):
                raise ValueError(f"{type(self).__name__} expects string tokens; received {v!r}")
            return v
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                return int(v)
            raise ValueError(f"{type(self).__name__} expects integer tokens; received {v!r}")
        return int(v)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Sets the vocabulary (a list or 1-D array; special tokens at its start are recognized and
        skipped) and, for tf_idf, the IDF weights (one per vocabulary entry)."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError("`idf_weights` should only be set if output_mode is `'tf_idf'`. "
                             f"Received: output_mode={self.output_mode} and idf_weights={idf_weights}")
        if isinstance(vocabulary, str):
            raise ValueError(f"{type(self).__name__}: a vocabulary file path is not supported; pass the list of "
                             "tokens (e.g. open(path).read().splitlines())")
        vocab = [self._token(v) for v in np.asarray(vocabulary, dtype=object).reshape(-1).tolist()]
        if not vocab:
            raise ValueError(f"Cannot set an empty vocabulary. Received: vocabulary={vocabulary}")
        start = self._token_start()
        specials = self.get_vocabulary()[:start]
        found_specials = vocab[:start] == specials
        tokens = vocab[start:] if found_specials else vocab
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError("The passed vocabulary has at least one repeated term. Please uniquify your dataset. "
                             f"The repeated terms are: {repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError("Found reserved mask token at unexpected location in `vocabulary`. Either remove all mask "
                             "and OOV tokens, or include them only at the start of the vocabulary in precisely this "
                             f"order: {specials}. Received: mask_token={self.mask_token}")
        if self.oov_token is not None and self.invert and self.oov_token in tokens:
            raise ValueError("Found reserved OOV token at unexpected location in `vocabulary`. Received: "
                             f"oov_token={self.oov_token}")
        size = start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"Attempted to set a vocabulary larger than the maximum vocab size. Received vocabulary "
                             f"size is {size}; `max_tokens` is {self.max_tokens}.")
        if size > MAX_VOCABULARY:
            raise ValueError(f"{type(self).__name__}: a vocabulary of {size} entries is more than the {MAX_VOCABULARY} "
                             "indices a float32 native input holds exactly")
        idf = None
        if self.output_mode == "tf_idf":
            w = np.asarray(idf_weights, np.float64)
            if w.ndim != 1:
                raise ValueError(f"TF-IDF data must be a 1-index array. Received: idf_weights of shape {w.shape}")
            if len(w) != len(vocab):
                raise ValueError(f"`idf_weights` must be the same length as vocabulary. len(idf_weights) is {len(w)}; "
                                 f"len(vocabulary) is {len(vocab)}")
            front = 0 if found_specials else start
            w = np.concatenate([np.full(front, w.mean() if len(w) else 0.0), w])
            idf = self._pad_idf(w.astype(np.float32))
        self._set_tokens(tokens, idf)

    def _pad_idf(self, w):
        if self.pad_to_max_tokens and self.max_tokens is not None:
            w = np.concatenate([w, np.zeros(self.max_tokens - len(w), np.float32)])
        return w

    def _set_tokens(self, tokens, idf=None):
        start = self._token_start()
        new_size = start + len(tokens)
        if (self.output_mode != "int" and not self.pad_to_max_tokens and self._frozen_vocab_size is not None
                and self._called and new_size != self._frozen_vocab_size):
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, the "
                               "vocabulary size cannot be changed after the layer is called. Old vocab size is "
                               f"{self._frozen_vocab_size}, new vocab size is {new_size}")
        self._tokens = list(tokens)
        self._index = {t: start + i for i, t in enumerate(self._tokens)}
        self._idf = idf
        self._frozen_vocab_size = new_size

    _called = False

    # -- adapt --
    def adapt(self, data, steps=None):
        """Learns the vocabulary: the tokens of `data` by count (ties: the larger token first), at most
        max_tokens entries with the special ones; for tf_idf also each token's document frequency."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via `vocabulary` "
                             "argument or `set_vocabulary()` method.")
        counts, doc_counts, documents = collections.Counter(), collections.Counter(), 0
        is_array = isinstance(data, (np.ndarray, list, tuple))
        for batch in batches_of(data, steps):
            rows = self._rows_for_adapt(batch, is_array)
            for row in rows:
                row = [self._token(v) for v in row]
                counts.update(row)
                if self.output_mode == "tf_idf":
                    doc_counts.update(set(row))
            documents += len(rows)
        self._finish_adapt(counts, doc_counts, documents)

    def _rows_for_adapt(self, batch, is_array):
        """The documents of a batch: an array's 1-D data is one token per document (Keras expands it
        to (n, 1)); a 1-D batch of an iterable is one document."""
        if batch.ndim == 0:
            return [[batch.item()]]
        if batch.ndim == 1:
            return [[v] for v in batch.tolist()] if is_array else [batch.tolist()]
        return [list(np.asarray(r).reshape(-1).tolist()) for r in batch]

    def _finish_adapt(self, counts, doc_counts, documents):
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(special, None)
        if not counts:
            self._frozen_vocab_size = self.vocabulary_size()
            return
        ranked = sorted(counts.items(), key=lambda tc: (tc[1], tc[0]), reverse=True)
        if self.max_tokens:
            ranked = ranked[:self.max_tokens - self._token_start()]
        tokens = [t for t, _ in ranked]
        idf = None
        if self.output_mode == "tf_idf":
            w = np.log(1 + documents / (1 + np.asarray([doc_counts[t] for t in tokens], np.float64)))
            w = w.astype(np.float32)
            idf = self._pad_idf(np.concatenate([np.full(self._token_start(), w.mean(), np.float32), w]))
        self._set_tokens(tokens, idf)

    # -- the lookup --
    def _lookup(self, x):
        """Indices of the tokens of x (any shape); masked positions -> 0 (int mode) or -1 (dropped)."""
        flat = x.reshape(-1)
        keys = [self._token(v) for v in flat.tolist()]
        default = self._oov_start() if self.num_oov_indices == 1 else -1
        ids = np.fromiter((self._index.get(k, default) for k in keys), np.int64, count=len(keys))
        masked = None
        if self.mask_token is not None:
            masked = np.fromiter((k == self.mask_token for k in keys), bool, count=len(keys))
            ids[masked] = 0 if self.output_mode == "int" else -1
        oov = ids == default if self.num_oov_indices != 1 else np.zeros(len(keys), bool)
        if masked is not None:
            oov &= ~masked
        if self.num_oov_indices == 0 and oov.any():
            bad = [keys[i] for i in np.flatnonzero(oov)[:5]]
            raise ValueError(f"When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values {bad}, "
                             "consider setting `num_oov_indices=1`.")
        if self.num_oov_indices > 1 and oov.any():
            idx = np.flatnonzero(oov)
            values = [keys[i] for i in idx]
            if not self._string and self.oov_method == "floormod":
                buckets = np.mod(np.asarray(values, np.int64), self.num_oov_indices)
            else:
                buckets = hash_buckets(np.asarray(values, dtype=object), self.num_oov_indices, self.salt)
            ids[idx] = buckets + self._oov_start()
        return ids.reshape(x.shape)

    def _invert(self, ids):
        tokens = self.get_vocabulary()
        n = len(tokens)
        flat = [tokens[i] if 0 <= i < n else self.oov_token for i in ids.reshape(-1).tolist()]
        if self.mask_token is not None:
            flat = [self.mask_token if i == 0 else t for i, t in zip(ids.reshape(-1).tolist(), flat)]
        out = np.empty(len(flat), dtype=object if self._string else np.int64)
        out[:] = flat
        return out.reshape(ids.shape)

    def _check_input(self, shape):
        pass

    def call(self, inputs):
        x = np.asarray(inputs) if not isinstance(inputs, np.ndarray) else inputs
        if self.invert:
            if x.dtype.kind not in "iu":
                raise ValueError(f"{type(self).__name__}(invert=True) expects integer indices; received dtype {x.dtype}")
            return self._invert(x.astype(np.int64))
        if self.output_mode != "int":
            depth = self._depth()
        self._called = True
        ids = self._lookup(x)
        if self.output_mode == "int":
            return ids
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = _encode_dropping(ids, mode, depth)
        if self.output_mode == "tf_idf":
            if self._idf is None:
                raise ValueError("When `output_mode` is `'tf_idf'`, `idf_weights` must be provided.")
            out = out * self._idf[:depth]
        return out

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(input_shape, self.output_mode if self.output_mode != "tf_idf" else "count",
                             self._depth())

    def get_config(self):
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token, "mask_token": self.mask_token,
                "output_mode": self.output_mode, "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "idf_weights": self.input_idf_weights, "vocabulary": self.input_vocabulary,
                "vocabulary_size": self._frozen_vocab_size, "salt": self.salt}

    # -- what a file keeps beyond the config (the adapted vocabulary; see models/input_side.py) --
    def lookup_state(self):
        if self._has_input_vocabulary or not self._tokens:
            return None
        state = {"vocabulary": self.get_vocabulary()}
        if self._idf is not None:
            state["idf_weights"] = self._idf.tolist()
        return state

    def set_lookup_state(self, state):
        if not isinstance(state, dict) or not isinstance(state.get("vocabulary"), list):
            raise ValueError(f"{type(self).__name__} {self.name!r}: a saved vocabulary must be "
                             '{"vocabulary": [...], "idf_weights": [...]}')
        vocab = state["vocabulary"]
        idf = state.get("idf_weights")
        tokens = vocab[self._token_start():] if vocab[:self._token_start()] == self.get_vocabulary()[:self._token_start()] \
            else vocab
        tokens = [self._token(t) for t in tokens]
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"{type(self).__name__} {self.name!r}: the saved vocabulary repeats tokens")
        if self.output_mode == "tf_idf":
            w = np.asarray(idf, np.float32) if idf is not None else None
            if w is None or w.ndim != 1 or len(w) < self._token_start() + len(tokens):
                raise ValueError(f"{type(self).__name__} {self.name!r}: tf_idf needs one idf weight per vocabulary entry")
            idf = w
        self._set_tokens(tokens, idf if self.output_mode == "tf_idf" else None)


def _encode_dropping(ids, mode, depth):
    """encode_categorical, positions with id -1 (masked) contributing nothing, as TensorFlow's
    bincount drops out-of-range values."""
    dropped = ids < 0
    if not dropped.any():
        return encode_categorical(ids, mode, depth)
    weights = (~dropped).astype(np.float32)
    safe = np.where(dropped, 0, ids)
    if mode == "one_hot":
        return encode_categorical(safe, mode, depth) * weights.reshape(
            weights.shape[:-1] if weights.ndim > 1 and weights.shape[-1] == 1 else weights.shape)[..., None]
    counts = encode_categorical(safe, "count", depth, count_weights=weights)
    return np.minimum(counts, 1.0) if mode == "multi_hot" else counts


@register
class StringLookup(IndexLookup):
    """Strings -> indices (or, invert=True, indices -> strings); OOV token "[UNK]", no mask token by default."""

    _string = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", name=None, salt=None, **kwargs):
        if encoding not in ("utf-8", "UTF-8", "utf8"):
            raise ValueError(f"StringLookup: only utf-8 text is supported. Received: encoding={encoding!r}")
        self.encoding = "utf-8"
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, salt=salt, name=name, **kwargs)

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding}


@register
class IntegerLookup(IndexLookup):
    """Integers -> indices (or back with invert=True); OOV token -1, no mask token by default; OOV
    values spread over several OOV indices by floormod (or farmhash)."""

    _string = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, name=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ValueError("Only `vocabulary_dtype='int64'` is supported at this time. Received: "
                             f"vocabulary_dtype={vocabulary_dtype}")
        if max_tokens is not None and not isinstance(max_tokens, bool) and isinstance(max_tokens, int) \
                and max_tokens <= 1:
            raise ValueError(f"If `max_tokens` is set for `IntegerLookup`, it must be greater than 1. "
                             f"Received: max_tokens={max_tokens}")
        super().__init__(max_tokens, num_oov_indices, None if mask_token is None else int(mask_token),
                         None if oov_token is None else int(oov_token), vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method, salt=salt, name=name, **kwargs)

    def get_config(self):
        config = {**super().get_config(), "vocabulary_dtype": "int64", "oov_method": self.oov_method}
        return config


__all__ = ["IndexLookup", "IntegerLookup", "StringLookup"]
