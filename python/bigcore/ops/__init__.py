"""bigcore.ops: Keras 3's ops (keras.ops) on bigcore's native primitives.

On numpy arrays (and Python numbers) an op computes at once with the native kernels and returns
a numpy array (float32; bool and int32 results as Keras types them). On symbolic tensors (a
model's KerasTensors, or a layer's weights while a custom call() is traced) it records a node of
the model's graph and returns a KerasTensor; the model lowers the node to its native primitive.
KerasTensor's Python operators (+ - * / // % ** @, unary -, abs, comparisons but ==) and NumPy
indexing record these ops too.

The package sits just above bigcore.layers in the import layering (pyproject.toml): it records
nodes of the layers' graph types (KerasTensor, Node, Layer). Tensor operators reach it through
the tensor-ops hook that bigcore.layers.base owns (set_tensor_ops), installed below.

    node.py      apply(): run or record; OpLayer (one recorded primitive), WeightRead, constants
    shapes.py    the primitives' shape rules on symbolic shapes
    numpy.py     elementwise maths, reductions, layout, creation (keras.ops.numpy)
    elementwise_math.py  more of keras.ops.numpy's maths (isnan ... sinc), composed from the
                 primitives where there is none (arctan, sinh ...)
    sorting.py   sort, argsort (ranks by pairwise comparisons in a trace), searchsorted, quantiles
    nn.py        activations, softmax, one_hot, normalize, moments, dropout, layer/rms normalization
                 (keras.ops.nn)
    core.py      shape, convert_to_tensor/numpy, stop_gradient, cond, slice (keras.ops.core)
    control_flow.py  fori_loop, while_loop, scan, map, switch: unrolled at trace time
    numpy_extra.py   array, select, multi_hot, nansum, fmax, batch_normalization ... (composed)
    math.py      logsumexp, erf, rsqrt, top_k, in_top_k
    linalg.py    norm; cholesky ... svd, slogdet, logdet (keras.ops.linalg): float64 NumPy on arrays only
    spectral.py  fft, fft2, ifft2, rfft, irfft, stft, istft, extract_sequences: NumPy on arrays, matmuls
                 against constant DFT matrices when traced
    complex_views.py  view_as_complex, view_as_real, polar (complex results on arrays only)
    einsum.py    einsum / tensordot as transpose + reshape + batched matmul
    indexing.py  x[...] as slice + squeeze + expand_dims (or take)
    attention.py dot_product_attention (keras.ops.nn): the fused attention primitive, or composed
    loss_calls.py losses called on symbolic tensors (losses.py's hooks): loss_rows, Keras's reduction
    ctc.py       ctc_loss (the native ctc_loss primitive), ctc_decode (greedy / beam search on arrays)
    segment.py   segment_sum / max / min / prod (a membership matrix, matmul or masked reductions)
    scatter.py   scatter, scatter_update, slice_update at positions known when traced (constants)
    adaptive_pool.py  adaptive_average_pool, adaptive_max_pool (keras.ops.nn): the native adaptive pooling
    conv.py      conv, depthwise_conv, separable_conv, conv_transpose, max_pool, average_pool (keras.ops.nn):
                 WindowOp, lowered to the native convolution / pooling ops
    nn_layout.py space_to_depth, depth_to_space, unfold, fold, psnr (keras.ops.nn): composed
    numpy_bitwise.py  bitwise_and / or / xor / not / invert, the shifts, gcd, lcm (on arrays only)
    numpy_stats.py    isin, digitize, unravel_index, nanargmax / min, nanquantile / percentile / median,
                 corrcoef, argpartition (composed); bincount, histogram (on arrays only)
    numpy_products.py cross, kron, correlate (composed); numpy_special.py: i0, ldexp (composed), nextafter
    math_extra.py     cdist, erfinv (keras.ops, composed); einops.py: rearrange
    numpy_windows.py  window functions, geomspace, array_split / h / v / dsplit, real / imag / conj / angle
                 of real tensors, diagflat, vander, trapezoid (keras.ops.numpy)
    functional_transforms.py  view (arrays only), vectorize (eager), associative_scan (also traced)
    image.py     keras.ops.image: extract_patches, resize, crop_images, pad_images, rgb_to_grayscale,
                 rgb_to_hsv, hsv_to_rgb (native, via a layer as resize)
    image_transforms.py  map_coordinates (arrays only), affine_transform, perspective_transform,
                 elastic_transform, scale_and_translate; image_filters.py: gaussian_blur, sobel_edges, ssim;
                 image_layout.py: the layout rules they share
"""

import sys

from bigcore import _tensor
from bigcore import losses as _losses
from bigcore import regularizers as _regularizers
from bigcore.layers import base as _base
from bigcore.layers import dims as _dims
from bigcore.ops.adaptive_pool import adaptive_average_pool, adaptive_max_pool
from bigcore.ops.attention import dot_product_attention
from bigcore.ops.conv import average_pool, conv, conv_transpose, depthwise_conv, max_pool, separable_conv
from bigcore.ops.core import (cond, convert_to_numpy, convert_to_tensor, dtype, is_tensor, shape, slice,
                              stop_gradient)
from bigcore.ops.indexing import getitem as _getitem
from bigcore.ops.linalg import (cholesky, cholesky_inverse, det, eig, eigh, inv, jvp, logdet, lstsq, lu_factor,
                                matrix_rank, norm, pinv, qr, slogdet, solve, solve_triangular, svd)
from bigcore.ops.spectral import extract_sequences, fft, fft2, ifft2, irfft, istft, rfft, stft
from bigcore.ops.complex_views import polar, view_as_complex, view_as_real
from bigcore.ops.loss_calls import binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy
from bigcore.ops.ctc import ctc_decode, ctc_loss
from bigcore.ops.math import erf, in_top_k, logsumexp, rsqrt, top_k
from bigcore.ops.nn import (celu, dropout, elu, gelu, glu, hard_shrink, hard_sigmoid, hard_silu, hard_swish,
                            hard_tanh, layer_normalization, leaky_relu, log_sigmoid, log_softmax, moments, normalize,
                            one_hot, relu, relu6, rms_normalization, selu, sigmoid, silu, soft_shrink, softmax,
                            softplus, softsign, sparse_plus, sparse_sigmoid, sparsemax, squareplus, swish,
                            tanh_shrink, threshold)
from bigcore.ops.nn_layout import depth_to_space, fold, psnr, space_to_depth, unfold
from bigcore.ops.node import OpLayer, WeightRead
from bigcore.ops.node import length_value as _length_value
from bigcore.ops.node import assign_weight as _assign_weight  # Weight.assign inside a traced call()
from bigcore.ops.node import constant as _constant  # for layers: arrays given inside a traced call()
from bigcore.ops.numpy import (_positive, abs, absolute, add, all, amax, amin, any, append, arange, argmax, argmin,
                               average, broadcast_to, cast, ceil, clip, concatenate, copy, cos, count_nonzero, cumprod,
                               cumsum, divide, divide_no_nan, dot, einsum, empty, equal, exp, expand_dims, expm1, eye,
                               flip, floor, floor_divide, full, full_like, greater, greater_equal, identity, inner, less,
                               less_equal, log,
                               log1p, log2, log10, logical_and, logical_not, logical_or, logical_xor, matmul, max,
                               maximum, mean, min, minimum, mod, moveaxis, multiply, ndim, negative, not_equal, ones,
                               ones_like, outer, pad, power, prod, ravel, reciprocal, repeat, reshape, roll, round,
                               sign, sin, size, split, sqrt, square, squeeze, stack, std, subtract, sum, swapaxes, take,
                               take_along_axis, tanh, tensordot, tile, transpose, tril, triu, true_divide, unstack, var,
                               vdot, where, zeros, zeros_like)
from bigcore.ops.elementwise_math import (allclose, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, cbrt,
                                          cosh, deg2rad, exp2, fmod, heaviside, hypot, isclose, isfinite, isinf,
                                          isnan, logaddexp, nan_to_num, rad2deg, signbit, sinc, sinh, tan, trunc)
from bigcore.ops.numpy import (diag, diagonal, diff, dstack, fliplr, flipud, hstack, linspace, logspace, meshgrid,
                               ptp, rot90, trace, tri, vstack)
from bigcore.ops.numpy_windows import (angle, array_split, bartlett, blackman, conj, conjugate, diagflat, dsplit,
                                       geomspace, hamming, hanning, hsplit, imag, isreal, kaiser, real, trapezoid,
                                       vander, vsplit)
from bigcore.ops.numpy_bitwise import (bitwise_and, bitwise_invert, bitwise_left_shift, bitwise_not, bitwise_or,
                                       bitwise_right_shift, bitwise_xor, gcd, lcm, left_shift, right_shift)
from bigcore.ops.numpy_stats import (argpartition, bincount, corrcoef, digitize, histogram, isin, nanargmax, nanargmin,
                                     nanmedian, nanpercentile, nanquantile, unravel_index)
from bigcore.ops.numpy_products import correlate, cross, kron
from bigcore.ops.numpy_special import i0, ldexp, nextafter
from bigcore.ops.math_extra import cdist, erfinv
from bigcore.ops.einops import rearrange
from bigcore.ops.sorting import (argsort, median, nonzero, percentile, quantile, searchsorted, sort, unique)
from bigcore.ops import image  # keras.ops.image
from bigcore.ops.segment import segment_max, segment_min, segment_prod, segment_sum
from bigcore.ops.scatter import scatter, scatter_update, slice_update
from bigcore.ops.functional_transforms import associative_scan, vectorize, view
from bigcore.ops.control_flow import fori_loop, map, scan, switch, vectorized_map, while_loop  # noqa: A004
from bigcore.ops.numpy_extra import (array, batch_normalization, empty_like, erfc, fabs, fmax, fmin, get_item,
                                     isneginf, isposinf, logaddexp2, multi_hot, nancumprod, nancumsum, nanmax, nanmean,
                                     nanmin, nanprod, nanstd, nansum, nanvar, saturate_cast, select)

# On arrays the ops return Keras's eager tensors (arrays with .numpy()); convert_to_numpy a plain array.
_PLAIN = {"convert_to_numpy", "is_tensor", "shape", "dtype"}


def _eager(fn):
    def op(*args, **kwargs):
        return _tensor.wrap(fn(*args, **kwargs))

    for attr in ("__name__", "__qualname__", "__doc__", "__module__", "__wrapped__"):
        if hasattr(fn, attr):
            setattr(op, attr, getattr(fn, attr))
    op.__wrapped__ = fn
    return op


for _name, _fn in list(globals().items()):
    if (not _name.startswith("_") and _name not in _PLAIN and callable(_fn) and not isinstance(_fn, type)
            and getattr(_fn, "__module__", "").startswith("bigcore.ops")):
        globals()[_name] = _eager(_fn)

# keras.ops.numpy / keras.ops.nn hold names whose bigcore ops live in other files here: the submodules
# get them too (eager on arrays), so `ops.numpy.isnan` and `ops.nn.dot_product_attention` resolve.
_SUBMODULE_NAMES = {
    numpy: ("argpartition bincount bitwise_and bitwise_invert bitwise_left_shift bitwise_not bitwise_or "
            "bitwise_right_shift bitwise_xor corrcoef correlate cross digitize gcd histogram i0 isin kron lcm ldexp "
            "left_shift nanargmax nanargmin nanmedian nanpercentile nanquantile nextafter right_shift unravel_index "
            "angle array_split bartlett blackman conj conjugate diagflat dsplit geomspace hamming hanning hsplit imag "
            "isreal kaiser real trapezoid vander vsplit "
            "allclose arccos arccosh arcsin arcsinh arctan arctan2 arctanh argsort array cbrt cosh deg2rad empty_like "
            "exp2 fabs fmax fmin fmod get_item heaviside hypot isclose isfinite isinf isnan isneginf isposinf logaddexp "
            "logaddexp2 median nan_to_num nancumprod nancumsum nanmax nanmean nanmin nanprod nanstd nansum nanvar "
            "nonzero percentile quantile rad2deg searchsorted select signbit sinc sinh slogdet sort tan trunc unique "
            "vectorize view"),
    nn: ("adaptive_average_pool adaptive_max_pool average_pool conv conv_transpose depth_to_space depthwise_conv fold "
         "max_pool psnr separable_conv space_to_depth unfold "
         "batch_normalization binary_crossentropy categorical_crossentropy ctc_decode ctc_loss dot_product_attention "
         "multi_hot polar "
         "sparse_categorical_crossentropy"),
    linalg: ("cholesky cholesky_inverse det eig eigh inv jvp lstsq lu_factor matrix_rank norm pinv qr solve "
             "solve_triangular svd"),
}
for _module, _names in _SUBMODULE_NAMES.items():
    for _name in _names.split():
        setattr(_module, _name, globals()[_name])

_base.set_tensor_ops(sys.modules[__name__])
_losses.hooks.ops = sys.modules[__name__]
_regularizers.hooks.ops = sys.modules[__name__]
# A run-time length in float arithmetic (ops.shape(x)[0] / 2.0): its value as a float32 tensor of the graph.
_dims.value_hook = lambda d: cast(_length_value(d), "float32")

__all__ = [n for n in dir() if not n.startswith("_") and n not in ("sys",)]
