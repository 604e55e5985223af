"""Lambda: a function of tensors as a layer, traced once like a custom layer's call().

A named function is saved by name: a Lambda model loads when its function is registered with
bigcore.saving.register_keras_serializable (or given in custom_objects). A Python `lambda` is
saved as Keras saves it (its marshalled bytecode, "__lambda__"), so saving never stops a fit
(ModelCheckpoint) and Keras loads the file with safe_mode=False; bigcore itself never runs code
from a file, so loading such a file here raises and names the way out.
"""

import base64
import inspect
import json
import marshal

from bigcore.layers import registry
from bigcore.layers.base import Layer
from bigcore.layers.registry import register


def _lambda_config(fn, what):
    """Keras's record of a Python lambda (python_utils.func_dump): base64 marshalled code, defaults
    and closure values, which must be plain JSON values."""
    defaults = fn.__defaults__
    closure = tuple(c.cell_contents for c in fn.__closure__) if fn.__closure__ else None
    try:
        json.dumps([defaults, closure])
    except (TypeError, ValueError):
        raise ValueError(f"Lambda: its {what} is a Python lambda whose defaults or closure hold objects that cannot be "
                         "saved. Use a named function registered with @bigcore.saving.register_keras_serializable()"
                         ) from None
    code = base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")
    return {"class_name": "__lambda__", "config": {"code": code, "defaults": defaults, "closure": closure}}


def _function_config(fn, what):
    name = registry.registered_name(fn)
    if name is None and getattr(fn, "__name__", None) == "<lambda>" and hasattr(fn, "__code__"):
        return _lambda_config(fn, what)
    if name is None and not callable(fn):
        raise ValueError(f"Lambda: its {what} {fn!r} is not a function")
    return {"module": getattr(fn, "__module__", None), "class_name": "function",
            "config": getattr(fn, "__name__", None), "registered_name": name or fn.__name__}


def _function_from(cfg, what):
    if callable(cfg):
        return cfg
    if isinstance(cfg, dict) and cfg.get("class_name") == "__lambda__":
        raise ValueError(f"Lambda: the {what} in this file is a Python lambda saved as bytecode (as Keras saves one); "
                         "bigcore never runs code from a file, whatever safe_mode says. Define the function by name, "
                         "register it with @bigcore.saving.register_keras_serializable() and save the model again")
    if isinstance(cfg, str):  # a registered function's name, or Keras 2's base64 bytecode
        fn = registry.get_object(cfg)
        if fn is not None:
            return fn
        shown = cfg if len(cfg) <= 60 else cfg[:57] + "..."
        raise ValueError(f"layer 'Lambda': its {what} {shown!r} is Python bytecode or the name of a function that is not "
                         "registered; bigcore never runs code from a file. Define the function, register it with "
                         "@bigcore.saving.register_keras_serializable() (or give it in custom_objects) and save again")
    if not isinstance(cfg, dict):
        raise ValueError(f"layer 'Lambda': bad {what} config {str(cfg)[:60]!r}")
    for key in (cfg.get("registered_name"), cfg.get("config")):
        fn = registry.get_object(key) if isinstance(key, str) else None
        if fn is not None:
            return fn
    raise ValueError(f"Lambda: the {what} {cfg.get('config')!r} is neither registered "
                     "(@bigcore.saving.register_keras_serializable()) nor given to load_model(custom_objects="
                     f"{{{cfg.get('config')!r}: ...}})")


@register
class Lambda(Layer):
    """Wraps fn(inputs) (keras.layers.Lambda): output_shape checks the traced shape when given; mask
    is the output mask (a function of (inputs, mask), or a fixed one); arguments go to fn."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda expects a function. Received: {function!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        self.mask = mask
        self.supports_masking = mask is not None
        params = inspect.signature(function).parameters
        self._fn_mask, self._fn_training = "mask" in params, "training" in params

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_mask:
            kwargs["mask"] = mask
        if self._fn_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            raise NotImplementedError  # the traced shape stands
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        first = input_shape
        while isinstance(first, list):
            first = first[0]
        return (first[0] if first else None,) + tuple(self._output_shape)  # Keras: given without the batch

    def get_config(self):
        cfg = {**super().get_config(), "function": _function_config(self.function, "function"),
               "arguments": self.arguments}
        if self._output_shape is not None:
            cfg["output_shape"] = (_function_config(self._output_shape, "output_shape")
                                   if callable(self._output_shape) else list(self._output_shape))
        if self.mask is not None:
            if not callable(self.mask):
                raise ValueError("Lambda: a fixed (tensor) mask cannot be saved")
            cfg["mask"] = _function_config(self.mask, "mask")
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["function"] = _function_from(config["function"], "function")
        if isinstance(config.get("output_shape"), dict):
            config["output_shape"] = _function_from(config["output_shape"], "output_shape")
        if isinstance(config.get("mask"), dict):
            config["mask"] = _function_from(config["mask"], "mask")
        return cls(**config)
