"""keras.layers.SpectralNormalization(layer, power_iterations=1): a Wrapper (wrapper.py) whose call()
is traced as a custom layer's, as Keras writes it.

In training each call first runs `power_iterations` steps of the power method from the non-trainable
`vector_u` (1, units) on the wrapped layer's kernel (or an Embedding's embeddings) seen as a matrix
(-1, units), then assigns kernel / sigma to the kernel and the new u to `vector_u` (both left as they
are while the kernel is all zeros), then runs the wrapped layer, which reads the assigned kernel. As
in Keras the assignment passes no gradient: the kernel's gradient is the wrapped layer's at the
normalized kernel, and the optimizer steps from there. Inference runs the wrapped layer on the kernel
as it stands (normalized by the last training step). The output is cast to the input's dtype, as
Keras does (an Embedding's int ids give int32 outputs). Weights, in Keras's order: the kernel,
vector_u, then the wrapped layer's others.
"""

from bigcore import initializers
from bigcore.layers.base import _ops
from bigcore.layers.input_spec import InputSpec
from bigcore.layers.registry import register
from bigcore.layers.wrapper import Wrapper


@register
class SpectralNormalization(Wrapper):
    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, int) or power_iterations <= 0:
            raise ValueError("`power_iterations` should be greater than zero. Received: "
                             f"`power_iterations={power_iterations}`")
        self.power_iterations = power_iterations

    def build(self, input_shape):
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        if hasattr(self.layer, "kernel"):
            self.kernel = self.layer.kernel
        elif hasattr(self.layer, "embeddings"):
            self.kernel = self.layer.embeddings
        else:
            raise ValueError(f"{type(self.layer).__name__} object has no attribute 'kernel' nor 'embeddings'")
        self.kernel_shape = tuple(self.kernel.shape)
        self.vector_u = self.add_weight(shape=(1, self.kernel_shape[-1]),
                                        initializer=initializers.TruncatedNormal(stddev=0.02), trainable=False,
                                        name="vector_u")

    def call(self, inputs, training=False):
        if training:
            ops = _ops()
            new_u, new_kernel = self.normalized_weights()
            # Keras's cond: an all-zero kernel (and its u) stays as it is
            zero = ops.all(ops.equal(self.kernel, 0.0))
            self.vector_u.assign(ops.where(zero, self.vector_u, new_u))
            self.kernel.assign(ops.where(zero, self.kernel, new_kernel))
        # Keras casts the output to the input's dtype: an Embedding's, to int32 (no gradient, as Keras)
        return _ops().cast(self.layer(inputs), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def normalized_weights(self):
        """(u, kernel / sigma): Keras's power iteration, u and v held constant for sigma's gradient."""
        ops = _ops()
        weights = ops.reshape(self.kernel, (-1, self.kernel_shape[-1]))
        vector_u = self.vector_u
        for _ in range(self.power_iterations):
            vector_v = ops.normalize(ops.matmul(vector_u, ops.transpose(weights)), axis=None)
            vector_u = ops.normalize(ops.matmul(vector_v, weights), axis=None)
        vector_u = ops.stop_gradient(vector_u)
        vector_v = ops.stop_gradient(vector_v)
        sigma = ops.matmul(ops.matmul(vector_v, weights), ops.transpose(vector_u))
        kernel = ops.reshape(ops.divide(self.kernel, sigma), self.kernel_shape)
        return vector_u, kernel

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
