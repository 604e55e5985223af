"""TextVectorization: raw strings -> token indices (or multi_hot / count / tf_idf vectors), with
Keras's standardization, splitting, n-grams and a StringLookup vocabulary."""

import collections
import re

import numpy as np

from bigcore.layers.preprocessing.base import InputSideLayer, batches_of
from bigcore.layers.preprocessing.lookup import StringLookup
from bigcore.layers.registry import register

# TensorFlow's tf.strings.lower lowers ASCII letters only; Keras strips this ASCII punctuation
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PUNCTUATION = str.maketrans("", "", "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'")
# tf.strings.split with no separator splits on runs of ASCII whitespace
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")


def _as_text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if not isinstance(v, str):
        raise ValueError(f"TextVectorization expects strings; received {v!r}")
    return v


def _ngrams(tokens, widths):
    """tf.strings.ngrams with separator " ": all n-grams of each width in turn, none for a width
    longer than the sequence."""
    out = []
    for n in widths:
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


@register
class TextVectorization(InputSideLayer):
    """Strings (batch,) or (batch, 1) -> int64 (batch, output_sequence_length or the longest row) of
    token indices (0 pads, 1 is out of vocabulary), or float32 (batch, vocabulary) encodings.

    standardize: "lower_and_strip_punctuation" (ASCII lower-casing, as TensorFlow's), "lower",
    "strip_punctuation", None or a callable on a NumPy array of str; split: "whitespace",
    "character", None or a callable str -> tokens; ngrams: None, an int n (1..n) or a tuple of widths.
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 vocabulary_size=None, **kwargs):
        if not (standardize is None or standardize in _STANDARDIZE or callable(standardize)):
            raise ValueError(f"Invalid value for argument standardize. Expected one of {_STANDARDIZE}, None or a "
                             f"callable. Received: standardize={standardize}")
        if not (split is None or split in _SPLIT or callable(split)):
            raise ValueError(f"Invalid value for argument split. Expected one of {_SPLIT}, None or a callable. "
                             f"Received: split={split}")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool))
                or (isinstance(ngrams, (tuple, list)) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError(f"`ngrams` must be None, an integer, or a tuple of integers. Received: ngrams={ngrams}")
        if output_mode == "int" and not (output_sequence_length is None or (
                isinstance(output_sequence_length, int) and not isinstance(output_sequence_length, bool))):
            raise ValueError("`output_sequence_length` must be either None or an integer when `output_mode` is 'int'. "
                             f"Received: output_sequence_length={output_sequence_length}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError("`output_sequence_length` must not be set if `output_mode` is not 'int'. "
                             f"Received output_sequence_length={output_sequence_length}.")
        if ragged:
            raise ValueError("TextVectorization: ragged=True needs TensorFlow's ragged tensors; bigcore pads the rows")
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        super().__init__(name=name, **kwargs)
        self._standardize, self._split, self._ngrams_arg = standardize, split, ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else (
            tuple(ngrams) if ngrams is not None else None)
        self._output_mode, self._output_sequence_length = output_mode, output_sequence_length
        self._encoding, self._ragged = encoding, False
        self.output_dtype = "int64" if output_mode == "int" else "float32"
        self._lookup_layer = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                                          pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
                                          encoding=encoding, vocabulary_size=vocabulary_size,
                                          has_input_vocabulary=has_input_vocabulary,
                                          name=f"{self.name}_lookup")

    # -- strings -> tokens --
    def _standardized(self, texts):
        if callable(self._standardize):
            out = self._standardize(np.asarray(texts, dtype=str) if len(texts) else np.asarray([], dtype=str))
            return [_as_text(t) for t in np.asarray(out, dtype=object).reshape(-1).tolist()]
        if self._standardize in ("lower", "lower_and_strip_punctuation"):
            texts = [t.translate(_LOWER) for t in texts]
        if self._standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            texts = [t.translate(_PUNCTUATION) for t in texts]
        return texts

    def _tokens(self, inputs):
        """A list (one per row) of token lists."""
        x = np.asarray(inputs, dtype=object)
        if x.ndim == 0:
            x = x.reshape(1)
        if self._split is not None and x.ndim > 1:
            if x.shape[-1] != 1 or x.ndim > 2:
                raise ValueError("When using `TextVectorization` to tokenize strings, the input rank must be 1 or the "
                                 f"last shape dimension must be 1. Received: inputs.shape={x.shape} with rank={x.ndim}")
            x = x[:, 0]
        if self._split is None:
            rows = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(-1, 1)
            texts = self._standardized([_as_text(t) for t in rows.reshape(-1).tolist()])
            width = rows.shape[1]
            rows = [texts[i * width:(i + 1) * width] for i in range(len(rows))]
        else:
            texts = self._standardized([_as_text(t) for t in x.tolist()])
            if self._split == "whitespace":
                rows = [[w for w in _WHITESPACE.split(t) if w] for t in texts]
            elif self._split == "character":
                rows = [list(t) for t in texts]
            else:
                rows = [[_as_text(w) for w in self._split(t)] for t in texts]
        if self._ngrams is not None:
            rows = [_ngrams(r, self._ngrams) for r in rows]
        return rows

    # -- vocabulary --
    def adapt(self, data, batch_size=None, steps=None):
        """Learns the vocabulary from strings: an array or list (one document per entry), or a
        Dataset / iterable of batches of strings."""
        lookup = self._lookup_layer
        if lookup._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via `vocabulary` "
                             "argument or `set_vocabulary()` method.")
        counts, doc_counts, documents = collections.Counter(), collections.Counter(), 0
        for batch in batches_of(data, steps):
            for row in self._tokens(batch):
                counts.update(row)
                if self._output_mode == "tf_idf":
                    doc_counts.update(set(row))
                documents += 1
        lookup._finish_adapt(counts, doc_counts, documents)

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    # -- the layer --
    def call(self, inputs):
        rows = self._tokens(inputs)
        lookup = self._lookup_layer
        if self._output_mode != "int":
            width = max((len(r) for r in rows), default=0)
            grid = np.empty((len(rows), width), dtype=object)
            grid[:] = ""  # the mask token: dropped by the encoding
            for i, r in enumerate(rows):
                grid[i, :len(r)] = r
            return lookup.call(grid)
        n = self._output_sequence_length
        width = n if n is not None else max((len(r) for r in rows), default=0)
        flat = [t for r in rows for t in r[:width]]
        ids = lookup.call(np.asarray(flat, dtype=object)) if flat else np.zeros(0, np.int64)
        out = np.zeros((len(rows), width), np.int64)
        pos = 0
        for i, r in enumerate(rows):
            k = min(len(r), width)
            out[i, :k] = ids[pos:pos + k]
            pos += k
        return out

    def compute_output_shape(self, input_shape):
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        return (input_shape[0], self._lookup_layer._depth())

    def get_config(self):
        lookup = self._lookup_layer
        for key, value in (("standardize", self._standardize), ("split", self._split)):
            if callable(value):
                raise ValueError(f"TextVectorization {self.name!r}: a callable `{key}` cannot be saved in a config "
                                 "(no code is ever deserialized); use one of the named options")
        return {**super().get_config(), "max_tokens": lookup.max_tokens, "standardize": self._standardize,
                "split": self._split, "ngrams": self._ngrams_arg, "output_mode": self._output_mode,
                "output_sequence_length": self._output_sequence_length, "pad_to_max_tokens": lookup.pad_to_max_tokens,
                "sparse": False, "ragged": False, "vocabulary": lookup.input_vocabulary,
                "idf_weights": lookup.input_idf_weights, "encoding": self._encoding,
                "vocabulary_size": lookup.vocabulary_size() if lookup._tokens else lookup._frozen_vocab_size}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        for key in ("standardize", "split"):
            if config.get(key) is not None and not isinstance(config[key], str):
                raise ValueError(f"TextVectorization: `{key}` in a config must be one of the named options; "
                                 f"received {config[key]!r} (custom functions are never deserialized)")
        return cls(**config)

    def lookup_state(self):
        return self._lookup_layer.lookup_state()

    def set_lookup_state(self, state):
        self._lookup_layer.set_lookup_state(state)
