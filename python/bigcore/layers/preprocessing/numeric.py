"""The numeric preprocessing layers: Normalization, Rescaling, CategoryEncoding, Discretization."""

import numpy as np

from bigcore.layers.base import KerasTensor, _ops
from bigcore.layers.preprocessing.base import (InputSideLayer, batches_of, check_int, encode_categorical,
                                               encoded_shape)
from bigcore.layers.registry import register

EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation Normalization divides by
_ENCODINGS = ("one_hot", "multi_hot", "count")


def _no_sparse(layer, sparse):
    if sparse:
        raise ValueError(f"{layer}: sparse=True needs TensorFlow's sparse tensors; bigcore returns dense arrays")


@register
class Normalization(InputSideLayer):
    """(x - mean) / sqrt(variance) per position of the kept `axis` (-1: per feature; None: one mean
    and variance), the mean and variance given or learned by adapt(); invert=True undoes it. On the
    model's inputs it runs in NumPy; after a native layer (inside a nested Sequential, after
    Resizing) it is primitives of the program that read the mean and variance weights in place, so
    a later adapt() or load_weights() is what the program uses."""

    lowers_natively = True
    supports_variable_length = True  # the kept axes are known (build checks); others may be run-time

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
        if (mean is None) != (variance is None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be set. "
                             f"Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError("When setting values directly, `mean` and `variance` must have the same shape. "
                                 f"Received: mean shape {np.shape(mean)} and variance shape {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"The rank of `mean` must be less than or equal to the number of axes "
                                 f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis {self.axis}")
        self.input_mean, self.input_variance, self.invert = mean, variance, bool(invert)
        self.adapt_mean = self.adapt_variance = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"All `axis` values must be in the range [-ndim, ndim). Received inputs with ndim={ndim}, "
                             f"while axis={self.axis}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if 0 in self._keep:
            raise ValueError(f"Normalization: axis {self.axis} includes the batch axis")
        for d in self._keep:
            if input_shape[d] is None:
                raise ValueError(f"All `axis` values to be kept must have a known shape. Received axis={self.axis}, "
                                 f"inputs.shape={tuple(input_shape)}, with unknown axis at index {d}")
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast = tuple(input_shape[d] if d in self._keep else 1 for d in range(1, ndim))
        self._stats_shape = tuple(input_shape[d] for d in self._keep)
        self._build_shape = tuple(input_shape)
        if self.input_mean is None and self.adapt_mean is None:
            self.adapt_mean = self.add_weight("mean", self._stats_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", self._stats_shape, "ones", trainable=False)
            # Keras's third weight, kept for its older files and never updated (adapt leaves it 0)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype="int32")
        self.built = True

    def _ensure_built(self, shape):
        if not self.built:
            self.build((None,) + tuple(shape[1:]))
        elif self._keep and (len(shape) != len(self._build_shape)  # axis=None: inputs of any rank (Keras)
                             or any(shape[d] != self._build_shape[d] for d in self._keep)):
            raise ValueError(f"Normalization {self.name!r} was built for inputs of shape {self._build_shape}; "
                             f"received shape {tuple(shape)}")

    def _stats(self):
        """(mean, variance), float32, broadcastable over a batch of inputs."""
        if not self._keep:  # axis=None: scalars, whatever the rank of the inputs
            mean, var = ((self.input_mean, self.input_variance) if self.input_mean is not None
                         else (self.adapt_mean.value, self.adapt_variance.value))
            return np.float32(np.reshape(mean, ())), np.float32(np.reshape(var, ()))
        if self.input_mean is not None:
            mean, var = np.asarray(self.input_mean, np.float32), np.asarray(self.input_variance, np.float32)
            kept = [1] * len(self._broadcast)
            for i in range(1, mean.ndim + 1):  # the given values align with the kept axes from the right
                kept[self._keep[-i] - 1] = mean.shape[-i]
            shape = (1,) + tuple(kept)
            return (np.broadcast_to(mean.reshape(shape), (1,) + self._broadcast),
                    np.broadcast_to(var.reshape(shape), (1,) + self._broadcast))
        return (self.adapt_mean.value.reshape((1,) + self._broadcast),
                self.adapt_variance.value.reshape((1,) + self._broadcast))

    def adapt(self, data, steps=None):
        """The mean and variance of `data` over every axis but the kept ones."""
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r} was given its mean and variance; it cannot be adapted")
        total_mean = total_var = None
        count = 0
        for batch in batches_of(data, steps, lists_are_batches=True):
            self._ensure_built(batch.shape)
            b = batch.astype(np.float64)
            n = int(np.prod([b.shape[d] for d in self._reduce])) if self._reduce else 1
            mean, var = b.mean(axis=self._reduce), b.var(axis=self._reduce)
            if total_mean is None:
                total_mean, total_var, count = mean, var, n
                continue
            # Keras's pairwise update: the variance by the lack-of-fit sum of squares
            count += n
            w = n / count
            new_mean = total_mean * (1 - w) + mean * w
            total_var = (total_var + (total_mean - new_mean) ** 2) * (1 - w) + (var + (mean - new_mean) ** 2) * w
            total_mean = new_mean
        if total_mean is None:
            raise ValueError("adapt() received no data")
        self.adapt_mean.assign(total_mean.astype(np.float32))
        self.adapt_variance.assign(total_var.astype(np.float32))

    def call(self, inputs):
        x = np.asarray(inputs, dtype=np.float32)
        self._ensure_built(x.shape)
        mean, var = self._stats()
        std = np.maximum(np.sqrt(var), np.float32(EPSILON))
        return (mean + x * std) if self.invert else (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def lower(self, prog, inputs, outputs):
        # the same float32 steps as call(): sqrt, max with EPSILON, then subtract and divide
        ops = _ops()
        x = KerasTensor(None, "float32", name=f"{self.name}/x", dims=outputs[0]._dims, batched=outputs[0]._batched)
        if self.input_mean is not None:  # given values: constants of the program
            mean, var = (ops.convert_to_tensor(np.reshape(v, np.shape(v)[1:]) if np.ndim(v) else v)
                         for v in self._stats())
        else:  # adapted: weights read in place (axis=None: scalars)
            shape = self._broadcast if self._keep else ()
            mean, var = (ops.reshape(w, shape) for w in (self.adapt_mean, self.adapt_variance))
        std = ops.maximum(ops.sqrt(var), np.float32(EPSILON))
        y = (mean + x * std) if self.invert else (x - mean) / std
        ids, _ = prog.lower_graph([(x, inputs[0])], _nodes_to(y, x), [y])
        return ids

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(), "variance": np.array(self.input_variance).tolist()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("mean", "variance"):  # Keras writes None as null
            if config.get(key) is None:
                config[key] = None
        return cls(**config)


def _nodes_to(y, x):
    """The op nodes that compute y from x (and weights, constants), in an order that runs each
    after the nodes it reads."""
    order, seen = [], set()

    def visit(t):
        node = t.node
        if t is x or node is None or id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.inputs:
            visit(parent)
        order.append(node)

    visit(y)
    return order


@register
class Rescaling(InputSideLayer):
    """x * scale + offset (scale and offset: numbers, or arrays broadcast over the last axes). On the
    model's inputs it runs in NumPy; after a native layer (Keras's guides rescale after the
    augmentation layers) it is two primitives of the program, multiply and add by constants."""

    lowers_natively = True
    supports_variable_length = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def lower(self, prog, inputs, outputs):
        x = inputs[0]
        for kind, value in (("multiply", self.scale), ("add", self.offset)):
            v = np.asarray(value, np.float32)
            c = prog.tensor(KerasTensor(None, dims=v.shape or (1,), batched=False))
            prog.native.add_prim("constant", [], [c], {"value": v.reshape(-1).tolist(), "shape": list(v.shape or (1,))})
            y = prog.tensor(outputs[0])
            prog.native.add_prim(kind, [x, c], [y], {})
            x = y
        return [x]

    def call(self, inputs):
        x = np.asarray(inputs).astype(np.float32)
        return x * np.asarray(self.scale, np.float32) + np.asarray(self.offset, np.float32)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        as_json = lambda v: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v  # noqa: E731
        return {**super().get_config(), "scale": as_json(self.scale), "offset": as_json(self.offset)}


@register
class CategoryEncoding(InputSideLayer):
    """Integer ids in [0, num_tokens) -> "one_hot", "multi_hot" (default) or "count" vectors."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        output_mode = "multi_hot" if output_mode == "binary" else output_mode
        if output_mode not in _ENCODINGS:
            raise ValueError(f"Unknown arg for output_mode: {output_mode}")
        if num_tokens is None:
            raise ValueError("num_tokens must be set to use this layer. If the number of tokens is not known "
                             "beforehand, use the IntegerLookup layer instead.")
        self.num_tokens = check_int("num_tokens", num_tokens, 1)
        _no_sparse("CategoryEncoding", sparse)
        self.output_mode, self.sparse = output_mode, False

    def call(self, inputs, count_weights=None):
        if count_weights is not None and self.output_mode != "count":
            raise ValueError("`count_weights` is not used when `output_mode` is not `'count'`. "
                             f"Received `count_weights={count_weights}`.")
        return encode_categorical(np.asarray(inputs), self.output_mode, self.num_tokens, count_weights)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}


@register
class Discretization(InputSideLayer):
    """Values -> the index of their bin (np.digitize: bins[i-1] <= x < bins[i]), the boundaries given
    or learned by adapt() as num_bins approximate quantiles (Keras's summary algorithm, `epsilon`)."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode not in ("int",) + _ENCODINGS:
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of ('int',) + {_ENCODINGS}. "
                             f"Received: output_mode={output_mode}")
        _no_sparse("Discretization", sparse)
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"`num_bins` must be greater than or equal to 0. Received: `num_bins={num_bins}`")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError("Both `num_bins` and `bin_boundaries` should not be set. Received: "
                             f"`num_bins={num_bins}` and `bin_boundaries={bin_boundaries}`")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("You need to set either `num_bins` or `bin_boundaries`.")
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        self.num_bins, self.epsilon, self.output_mode, self.sparse = num_bins, epsilon, output_mode, False
        self.output_dtype = "int64" if output_mode == "int" else "float32"

    def adapt(self, data, steps=None):
        if self.num_bins is None:
            raise ValueError("Cannot adapt a Discretization layer that has been initialized with `bin_boundaries`, "
                             "use `num_bins` instead.")
        summary = np.array([[], []], dtype=np.float32)
        for batch in batches_of(data, steps, lists_are_batches=True):
            summary = _merge(_summarize(batch.astype(np.float32), self.epsilon), summary, self.epsilon)
        self.bin_boundaries = _compress(summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def _depth(self):
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError("You need to either pass the `bin_boundaries` argument at construction time or call "
                             "`adapt(dataset)` before you can start using the `Discretization` layer.")
        ids = np.digitize(np.asarray(inputs, np.float32), np.asarray(self.bin_boundaries, np.float32))
        if self.output_mode == "int":
            return ids.astype(np.int64)
        return encode_categorical(ids, self.output_mode, self._depth())

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self._depth())

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": self.sparse}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")  # adapted: both are saved, as Keras does
            layer = cls(**config)
            layer.bin_boundaries = [float(b) for b in boundaries]
            return layer
        return cls(**config)


# Keras's approximate quantiles (discretization.py): a sorted sample of ~1/epsilon values with
# weights, merged batch by batch and compressed by interpolating the cumulative weights.

def _summarize(values, epsilon):
    values = np.sort(values.reshape(-1))
    step = max(values.size / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def _merge(a, b, epsilon):
    merged = np.concatenate((a, b), axis=1)
    return _compress(np.take(merged, np.argsort(merged[0]), axis=1), epsilon)


def _compress(summary, epsilon):
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum = summary[1].cumsum()
    cum_percents = cum / cum[-1]
    new_bins = np.interp(percents, cum_percents, summary[0])
    cum = np.interp(percents, cum_percents, cum)
    return np.stack((new_bins, cum - np.concatenate((np.array([0]), cum[:-1])))).astype(np.float32)
