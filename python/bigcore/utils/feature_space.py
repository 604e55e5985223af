"""keras.utils.FeatureSpace: one object that preprocesses and encodes a dict of structured-data
features (Keras's "structured data classification with FeatureSpace").

Each feature gets one of bigcore's preprocessing layers (Normalization, Rescaling, Discretization,
StringLookup, IntegerLookup, Hashing, or the user's own), each cross a HashedCrossing; features
whose output_mode is "one_hot" are then encoded with CategoryEncoding(multi_hot), and in "concat"
mode everything is concatenated, in Keras's order (features by sorted name, then crosses by sorted
name). All of these run in NumPy on the input side, so the same layers serve eager calls on dicts
of arrays (returning NumPy arrays) and a functional model built from get_inputs() /
get_encoded_features(), which runs them before its native program.
"""

import numpy as np

from bigcore import layers
from bigcore.data import Dataset
from bigcore.layers.base import KerasTensor, Layer, _unique_name
from bigcore.layers.preprocessing.feature_space_layers import TFDConcat, TFDIdentity
from bigcore.saving import deserialize_keras_object, serialize_keras_object

_TYPES = ("float", "float_normalized", "float_rescaled", "float_discretized", "integer_categorical",
          "string_categorical", "integer_hashed", "string_hashed")


class Cross:
    """A feature cross: the named features hashed together into crossing_dim bins."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in {"int", "one_hot"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of {'int', 'one_hot'}. "
                             f"Received: output_mode={output_mode}")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self):
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Feature:
    """A feature: its input dtype, its preprocessing layer and how its output is encoded."""

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of {'int', 'one_hot', 'float'}. "
                             f"Received: output_mode={output_mode}")
        if not isinstance(preprocessor, Layer):
            raise TypeError(f"A Feature's `preprocessor` must be a layer. Received: {type(preprocessor).__name__}")
        if not getattr(preprocessor, "input_side", False):
            raise ValueError(f"A Feature's `preprocessor` must be a preprocessing layer (one that runs on the input "
                             f"side, in NumPy); {type(preprocessor).__name__} is a native layer: apply it in the "
                             "model after the FeatureSpace instead")
        self.dtype = dtype
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self):
        return {"dtype": self.dtype, "preprocessor": serialize_keras_object(self.preprocessor),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["preprocessor"], dict):
            config["preprocessor"] = deserialize_keras_object(config["preprocessor"])
        return cls(**config)


def _element_batches(elements, name):
    """The adapt batches of feature `name` from a stream of dict elements, as Keras's adapt() makes
    them: scalar elements grouped 32 at a time, every batch of rank 0 or 1 given a trailing axis of 1."""
    first, rank, chunk = True, None, []
    for el in elements:
        if not isinstance(el, dict):
            raise ValueError("FeatureSpace.adapt() expects a dataset whose elements are dicts of features; received "
                             f"an element of type {type(el).__name__} (for (features, labels) pairs, adapt on "
                             "`dataset.map(lambda x, y: x)`)")
        if name not in el:
            raise ValueError(f"FeatureSpace.adapt(): the data has no feature {name!r}; it has {sorted(el)}")
        x = np.asarray(el[name])
        if first:
            rank, first = x.ndim, False
        if rank == 0:
            chunk.append(x)
            if len(chunk) == 32:
                yield np.stack(chunk)[:, None]
                chunk = []
            continue
        yield x[..., None] if rank == 1 else x
    if chunk:
        yield np.stack(chunk)[:, None]


class _Batches:
    """A re-iterable stream of adapt batches (the preprocessing layers' adapt() reads any iterable)."""

    def __init__(self, make):
        self._make = make

    def __iter__(self):
        return iter(self._make())


def _dict_columns(data):
    """A dict's values as arrays of one length (tf.data.Dataset.from_tensor_slices's rule)."""
    arrays = {k: np.asarray(v) for k, v in data.items()}
    lengths = {a.shape[0] if a.ndim else None for a in arrays.values()}
    if None in lengths or len(lengths) != 1:
        raise ValueError("FeatureSpace.adapt(): the values of a dict must be arrays or lists of one length; received "
                         f"shapes {{{', '.join(f'{k}: {a.shape}' for k, a in arrays.items())}}}")
    return arrays


def _dict_elements(arrays):
    """The elements tf.data.Dataset.from_tensor_slices(arrays) would yield: row i of every value."""
    n = len(next(iter(arrays.values())))
    return ({k: a[i] for k, a in arrays.items()} for i in range(n))


class FeatureSpace(Layer):
    """FeatureSpace(features, output_mode="concat", crosses=None, crossing_dim=32, hashing_dim=32,
    num_discretization_bins=32, name=None): see Keras's keras.utils.FeatureSpace."""

    # -- the feature types --
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        name = name or _unique_name("float")
        return Feature("float32", TFDIdentity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        name = name or _unique_name("float_rescaled")
        return Feature("float32", layers.Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name=None):
        name = name or _unique_name("float_normalized")
        return Feature("float32", layers.Normalization(axis=-1, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
        name = name or _unique_name("float_discretized")
        pre = layers.Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries, name=f"{name}_preprocessor")
        return Feature("float32", pre, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        name = name or _unique_name("integer_categorical")
        pre = layers.IntegerLookup(name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices)
        return Feature("int32", pre, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        name = name or _unique_name("string_categorical")
        pre = layers.StringLookup(name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices)
        return Feature("string", pre, output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or _unique_name("string_hashed")
        return Feature("string", layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or _unique_name("integer_hashed")
        return Feature("int32", layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32, hashing_dim=32,
                 num_discretization_bins=32, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"FeatureSpace got unexpected keyword arguments: {sorted(kwargs)}")
        super().__init__(name=name)
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        self.crossing_dim, self.hashing_dim = crossing_dim, hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {n: self._standardize_feature(n, v) for n, v in features.items()}
        self.crosses = []
        for cross in crosses or ():
            if isinstance(cross, dict):
                cross = Cross.from_config(cross.get("config", cross))
            if not isinstance(cross, Cross):
                if not crossing_dim:
                    raise ValueError("When specifying `crosses`, the argument `crossing_dim` (dimensionality of the "
                                     "crossing space) should be specified as well.")
                cross = Cross(cross, crossing_dim=crossing_dim)
            unknown = [k for k in cross.feature_names if k not in self.features]
            if unknown:
                raise ValueError("All features referenced in the `crosses` argument should be present in the "
                                 f"`features` dict. Received unknown features: {unknown} in {cross.feature_names}")
            self.crosses.append(cross)
        self.crosses_by_name = {c.name: c for c in self.crosses}
        if output_mode not in {"dict", "concat"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of {'dict', 'concat'}. "
                             f"Received: output_mode={output_mode}")
        self.output_mode = output_mode
        self.inputs = {n: layers.Input(shape=(1,), dtype=f.dtype, name=n) for n, f in self.features.items()}
        self.preprocessors = {n: f.preprocessor for n, f in self.features.items()}
        self.crossers = {c.name: layers.HashedCrossing(c.crossing_dim, name=c.name) for c in self.crosses}
        self.encoded_features = None
        self.one_hot_encoders = {}
        self.concat = None
        self._is_adapted = False
        self._sublayers_built = False
        self._preprocessed_features_names = self._crossed_features_names = None

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):  # a serialized Feature (get_config)
            return Feature.from_config(feature.get("config", feature))
        if feature not in _TYPES:
            raise ValueError(f"Invalid feature type: {feature}. Expected a FeatureSpace.* feature or one of {_TYPES}")
        if feature == "float_discretized":
            return self.float_discretized(name=name, num_bins=self.num_discretization_bins)
        if feature in ("integer_hashed", "string_hashed"):
            return getattr(self, feature)(self.hashing_dim, name=name)
        return getattr(self, feature)(name=name)

    # -- adapt --
    def _list_adaptable_preprocessors(self):
        names = []
        for name in self.features:
            pre = self.preprocessors[name]
            if isinstance(pre, layers.Normalization) and pre.input_mean is not None:
                continue  # given mean and variance
            if isinstance(pre, layers.TextVectorization) and pre._lookup_layer._has_input_vocabulary:
                continue
            if hasattr(pre, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset):
        """Adapts each feature's preprocessor on its values: `dataset` is a bigcore Dataset (or any
        iterable) of dicts of features, or a dict of arrays / lists (read as its rows, as Keras reads
        it through tf.data.Dataset.from_tensor_slices)."""
        if isinstance(dataset, dict):
            columns = _dict_columns(dataset)

            def elements():
                return _dict_elements(columns)
        elif isinstance(dataset, Dataset):
            def elements():
                return iter(dataset)
        else:
            raise ValueError("`adapt()` can only be called on a bigcore.data.Dataset (in place of tf.data.Dataset) or "
                             f"a dict of arrays/lists. Received instead: {dataset} (of type {type(dataset)})")
        for name in self._list_adaptable_preprocessors():
            if isinstance(dataset, dict) and name in columns and columns[name].ndim == 1:
                # the same batches without the row-by-row walk: 32 scalars at a time, as (32, 1)
                col = columns[name]
                batches = _Batches(lambda col=col: (col[i:i + 32, None] for i in range(0, len(col), 32)))
            else:
                batches = _Batches(lambda name=name: _element_batches(elements(), name))
            self.preprocessors[name].adapt(batches)
        self._is_adapted = True
        self.get_encoded_features()  # builds the encoders and the concat
        self.built = True
        self._sublayers_built = True

    def _check_if_adapted(self):
        if not self._is_adapted:
            if self._list_adaptable_preprocessors():
                raise ValueError("You need to call `.adapt(dataset)` on the FeatureSpace before you can start using "
                                 "it.")
            self._is_adapted = True

    def _check_if_built(self):
        if not self._sublayers_built:
            self._check_if_adapted()
            self.get_encoded_features()
            self._sublayers_built = True

    def get_inputs(self):
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        self._check_if_adapted()
        if self.encoded_features is None:
            pre = self._preprocess_features(self.inputs)
            self.encoded_features = self._merge_features(pre, self._cross_features(pre))
        return self.encoded_features

    # -- the encoding (symbolic on the Inputs, or eager on arrays) --
    def _preprocess_features(self, features):
        return {name: self.preprocessors[name](features[name]) for name in features}

    def _cross_features(self, features):
        return {c.name: self.crossers[c.name]([features[n] for n in c.feature_names]) for c in self.crosses}

    def _cardinality(self, name):
        pre = self.preprocessors.get(name) or self.crossers.get(name)
        if isinstance(pre, (layers.IntegerLookup, layers.StringLookup)):
            return pre.vocabulary_size()
        if isinstance(pre, layers.CategoryEncoding):
            return pre.num_tokens
        if isinstance(pre, layers.Discretization):
            return pre.num_bins
        if isinstance(pre, (layers.HashedCrossing, layers.Hashing)):
            return pre.num_bins
        raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. However it isn't a standard feature and the "
                         "dimensionality of its output space is not known, thus it cannot be one-hot encoded. Try "
                         "using `output_mode='int'`.")

    def _build_encoders(self, names, features):
        specs = [self.features[n] for n in self._preprocessed_features_names] + [
            self.crosses_by_name[n] for n in self._crossed_features_names]
        for name, feature, spec in zip(names, features, specs):
            dtype = str(feature.dtype)
            if spec.output_mode == "one_hot":
                if not dtype.startswith("int"):
                    raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. Thus its preprocessor should "
                                     f"return an integer dtype. Instead it returns a {dtype} dtype.")
                cardinality = self._cardinality(name)
                if cardinality is not None:
                    self.one_hot_encoders[name] = layers.CategoryEncoding(num_tokens=cardinality,
                                                                          output_mode="multi_hot")
                    dtype = "float32"
            if self.output_mode == "concat" and (dtype.startswith("int") or dtype == "string"):
                raise ValueError(f"Cannot concatenate features because feature '{name}' has not been encoded (it has "
                                 f"dtype {dtype}). Consider using `output_mode='dict'`.")
        if self.output_mode == "concat":
            self.concat = TFDConcat(axis=-1)

    def _merge_features(self, preprocessed, crossed):
        if not self._preprocessed_features_names:
            self._preprocessed_features_names = sorted(preprocessed)
            self._crossed_features_names = sorted(crossed)
        names = self._preprocessed_features_names + self._crossed_features_names
        features = [preprocessed[n] for n in self._preprocessed_features_names] + [
            crossed[n] for n in self._crossed_features_names]
        if not self._sublayers_built and (self.concat is None and not self.one_hot_encoders):
            self._build_encoders(names, features)
        encoded = {}
        for name, feature in zip(names, features):
            encoder = self.one_hot_encoders.get(name)
            encoded[name] = encoder(feature) if encoder is not None else feature
        if self.output_mode == "dict":
            return encoded
        return self.concat([encoded[n] for n in names])

    def __call__(self, data):
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError(f"A FeatureSpace can only be called with a dict. Received: data={data} "
                             f"(of type {type(data)})")
        unknown = sorted(set(data) - set(self.features))
        missing = sorted(set(self.features) - set(data))
        if unknown or missing:
            raise ValueError(f"A FeatureSpace is called with a dict of exactly its features {sorted(self.features)}; "
                             f"missing: {missing}, unknown: {unknown}")
        if any(isinstance(v, KerasTensor) for v in data.values()):
            pre = self._preprocess_features(data)
            return self._merge_features(pre, self._cross_features(pre))
        arrays, rebatched = {}, False
        for name, value in data.items():
            x = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            if x.ndim == 0:
                x, rebatched = x.reshape(1, 1), True
            elif x.ndim == 1:
                x = x[:, None]
            arrays[name] = x
        pre = {n: np.asarray(v) for n, v in self._preprocess_features(arrays).items()}
        crossed = {n: np.asarray(v) for n, v in self._cross_features(pre).items()}
        out = self._merge_features(pre, crossed)
        if rebatched:
            if self.output_mode == "concat":
                if out.shape[0] != 1:
                    raise ValueError(f"Expected rebatched data to have batch size 1. Received: shape={out.shape}")
                out = out[0]
            else:
                out = {n: x[0] if x.ndim == 2 and x.shape[0] == 1 else x for n, x in out.items()}
        return out

    # -- config --
    def get_config(self):
        return {"features": {n: {"module": "keras.src.layers.preprocessing.feature_space", "class_name": "Feature",
                                 "config": f.get_config()} for n, f in self.features.items()},
                "output_mode": self.output_mode,
                "crosses": [{"module": "keras.src.layers.preprocessing.feature_space", "class_name": "Cross",
                             "config": c.get_config()} for c in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def save(self, filepath):
        raise NotImplementedError("FeatureSpace.save() (a .keras file of the FeatureSpace alone) is not supported "
                                  "yet; save the model built from get_inputs() / get_encoded_features() instead, "
                                  "which keeps the adapted preprocessing layers")

