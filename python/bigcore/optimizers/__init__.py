"""Optimizers with Keras's arguments and update rules, applied by one fused native pass over the
parameter arena (cpp/kernels/float/body.h: optim_update). The constants cross to the native program
once (`native_args`, at compile) and again only when one is set; per step Python hands over the
learning rate (a schedule's value) and the step count, and the native side derives the rest."""

import math
import numbers
import re
import weakref

import numpy as np

from bigcore._native import _core
from bigcore.optimizers import schedules

SGD_KIND, ADAM_KIND, RMSPROP_KIND, ADAGRAD_KIND = 0, 1, 2, 3
NADAM_KIND, ADAMAX_KIND, ADADELTA_KIND, LION_KIND = 4, 5, 6, 7
FTRL_KIND, LAMB_KIND, ADAFACTOR_KIND = 8, 9, 10
MUON_KIND, SCHEDULE_FREE_KIND = 11, 12  # cpp/runtime/optim.h: OPT_MUON, OPT_SCHEDULE_FREE

# Keras 3's other BaseOptimizer argument, loss_scale_factor: bigcore does not run it, so it is taken
# only where it turns the feature off (Keras's default) and refused by name otherwise.
_KERAS_OFF = {"loss_scale_factor": (None, lambda v: v is None)}

# The native program's EMA exchanges (cpp/runtime/optim.h: EmaExchange)
EMA_TO_WEIGHTS, EMA_FROM_WEIGHTS, EMA_SWAP = 0, 1, 2


def _number(name, value, optional=False):
    """value as a float: a finite real number (None too when optional)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"Argument `{name}` must be a finite number{' or None' if optional else ''}. "
                         f"Received: {name}={value!r}")
    return float(value)


def _in_unit(low_open=False, high_open=True):
    """A check: a number in [0, 1), or (0, 1] etc."""
    def check(name, value):
        v = _number(name, value)
        if (v <= 0.0 if low_open else v < 0.0) or (v >= 1.0 if high_open else v > 1.0):
            interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
            raise ValueError(f"Argument `{name}` must be in {interval}. Received: {name}={value!r}")
        return v
    return check


def _non_negative(name, value):
    v = _number(name, value)
    if v < 0.0:
        raise ValueError(f"Argument `{name}` must be >= 0. Received: {name}={value!r}")
    return v


def _non_positive(name, value):
    v = _number(name, value)
    if v > 0.0:
        raise ValueError(f"Argument `{name}` must be <= 0. Received: {name}={value!r}")
    return v


def _positive(name, value):
    v = _number(name, value)
    if v <= 0.0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value!r}")
    return v


def _positive_or_none(name, value):
    v = _number(name, value, optional=True)
    if v is not None and v <= 0.0:
        raise ValueError(f"Argument `{name}` must be > 0 or None. Received: {name}={value!r}")
    return v


def _check_learning_rate(value):
    """A schedule (callable), or a finite number: a NaN or infinite rate trains every weight to NaN."""
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("Argument `learning_rate` must be a float or a LearningRateSchedule. "
                         f"Received: learning_rate={value!r}")
    if not math.isfinite(value):
        raise ValueError(f"Argument `learning_rate` must be finite: a NaN or infinite rate trains every weight to "
                         f"NaN. Received: learning_rate={value!r}")
    return value


class _Constant:
    """A hyper-parameter of the native update (native_args). Keras reads them at every step, so
    setting one, after compile too, makes a new version of the constants, which the next step
    sends to the native program (Optimizer._send_to). `iterations` and the learning rate are
    plain attributes: they cross with every step anyway. check(name, value) -> the value to keep,
    or raises: run at construction and at every later set."""

    def __init__(self, check=None):
        self.check = check

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        try:
            return obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, obj, value):
        if self.check is not None:
            value = self.check(self.name, value)
        obj.__dict__[self.name] = value
        obj.__dict__["_version"] = obj.__dict__.get("_version", 0) + 1


def _accumulation_steps(value):
    """None (or 0, off, as Keras takes a falsy value) or an int >= 2, as Keras checks it."""
    if not value:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
        raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. "
                         f"Received: gradient_accumulation_steps={value!r}")
    return int(value)


def _ema_momentum(name, value):
    v = _number(name, value)
    if v < 0.0 or v > 1.0:  # Keras's message
        raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={value!r}")
    return v


def _ema_overwrite_frequency(name, value):
    """None (or 0, which Keras takes as None) or an int >= 1, as Keras checks it."""
    if not value:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. "
                         f"Received: ema_overwrite_frequency={value!r}")
    return int(value)


class _EmaSetting(_Constant):
    """ema_momentum and ema_overwrite_frequency: checked (as Keras does) only where use_ema is on;
    with it off Keras keeps them unread, whatever they are."""

    def __set__(self, obj, value):
        if not obj.__dict__.get("_use_ema"):
            obj.__dict__[self.name] = value
            obj.__dict__["_version"] = obj.__dict__.get("_version", 0) + 1
            return
        super().__set__(obj, value)


class _VariableView:
    """An optimizer variable as Keras's reads: the number (a float or an int), with numpy() in Keras's
    dtype and assign(), which sets the optimizer's attribute of that name."""

    _attr, _dtype = None, None

    def __new__(cls, value, owner):
        obj = super().__new__(cls, value)
        obj._owner = owner
        return obj

    def numpy(self):
        return self._dtype(self)

    def assign(self, value):
        setattr(self._owner, self._attr, value)


class _Rate(_VariableView, float):
    _attr, _dtype = "learning_rate", np.float32


class _Count(_VariableView, int):
    _attr, _dtype = "iterations", np.int64


class Optimizer:
    kind = None
    slots = 0          # arena-sized state buffers
    slot_init = 0.0
    weight_decay = _Constant(lambda name, v: None if v is None else _non_negative(name, v))
    clipnorm, clipvalue, global_clipnorm = (_Constant(_positive_or_none), _Constant(_positive_or_none),
                                            _Constant(_positive_or_none))
    # Keras's EMA of the trainable weights (use_ema): one more state slot, the last, which the native
    # optimizer pass updates after each step's update and before the constraints
    ema_momentum, ema_overwrite_frequency = _EmaSetting(_ema_momentum), _EmaSetting(_ema_overwrite_frequency)

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, name=None,
                 gradient_accumulation_steps=None, **kwargs):
        for key, (default, is_off) in _KERAS_OFF.items():
            value = kwargs.pop(key, default)
            if not is_off(value):
                raise ValueError(f"Argument `{key}` is not supported by bigcore's {type(self).__name__}: expected "
                                 f"{key}={default!r} (Keras's default: the feature off). Received: {key}={value!r}")
        if kwargs:
            raise TypeError(f"Unknown argument(s) for {type(self).__name__}: {sorted(kwargs)}")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set.")
        self._learning_rate = _check_learning_rate(learning_rate)  # a float or a schedule
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self._use_ema = bool(use_ema)
        self.ema_momentum, self.ema_overwrite_frequency = ema_momentum, ema_overwrite_frequency
        # Keras's gradient accumulation: a slot sums the gradients, after the update's own slots and
        # before the EMA's; the native pass updates every n-th step with their mean
        self._accumulation = _accumulation_steps(gradient_accumulation_steps)
        self.slots = type(self).slots + (self._accumulation is not None) + self._use_ema
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._sent = (None, -1)  # (weakref to the native program, _version) of the constants it holds

    @property
    def use_ema(self):
        return self._use_ema

    @use_ema.setter
    def use_ema(self, value):
        if bool(value) != self._use_ema:
            raise ValueError(f"{type(self).__name__}'s `use_ema` is fixed when the optimizer is made (it decides its "
                             f"state slots): make a new optimizer. Received: use_ema={value!r} (was {self._use_ema})")

    @property
    def gradient_accumulation_steps(self):
        return self._accumulation

    @gradient_accumulation_steps.setter
    def gradient_accumulation_steps(self, value):
        if _accumulation_steps(value) != self._accumulation:
            raise ValueError(f"{type(self).__name__}'s `gradient_accumulation_steps` is fixed when the optimizer is "
                             f"made (it decides its state slots): make a new optimizer. Received: "
                             f"gradient_accumulation_steps={value!r} (was {self._accumulation})")

    @property
    def learning_rate(self):
        """The rate the next step uses (a schedule is evaluated at the current iteration), as Keras."""
        return _Rate(self._current_lr(), self)

    @property
    def iterations(self):
        """The updates made (Keras's iterations): the steps taken, divided by gradient_accumulation_steps
        (floored) where that is set. Setting it sets the count of steps (Keras's _iterations variable),
        which is what the native step, the schedules and the files read."""
        n = self._accumulation
        return _Count(self._iterations // n if n else self._iterations, self)

    @iterations.setter
    def iterations(self, value):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"optimizer.iterations must be a count of steps (an integer >= 0). Received: {value!r}")
        self._iterations = int(value)

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(self._learning_rate) and not callable(value):
            raise TypeError("This optimizer was created with a learning rate schedule, so its learning rate "
                            "cannot be set to a number (Keras behaves the same)")
        self._learning_rate = _check_learning_rate(value)

    def _current_lr(self):
        lr = self._learning_rate
        if not callable(lr):
            return float(lr)
        value = float(lr(self._iterations))  # Keras: the schedule reads the steps, not the updates
        if not math.isfinite(value):  # refused before the step: no weight changes
            raise ValueError(f"The learning-rate schedule {type(lr).__name__} gave {value} at step {self._iterations}: "
                             "a learning rate must be finite (a NaN or infinite rate trains every weight to NaN)")
        return value

    # The optimizer's own constants: (argument name, OptimArgs field, or None for one nothing native
    # reads), in Keras's config order. _fill sends them; get_config writes them.
    _fields = ()

    def _fill(self, a):
        """Sets this optimizer's own constants on the native argument block."""
        for name, field in self._fields:
            if field is not None:
                setattr(a, field, getattr(self, name))

    def _prepare(self, program):
        """At compile, before the constants are sent: what the optimizer needs to know of the lowered
        program (its (weight, offset) list). Most need nothing."""

    def native_args(self, native=None):
        """The constants of the native update (everything but the learning rate and the step);
        native: the program they are for (an optimizer that routes weights reads its _prepare)."""
        a = _core.OptimArgs()
        a.kind = self.kind
        a.weight_decay = float(self.weight_decay or 0.0)
        a.clipnorm = float(self.clipnorm or 0.0)
        a.clipvalue = float(self.clipvalue or 0.0)
        a.global_clipnorm = float(self.global_clipnorm or 0.0)
        a.gradient_accumulation_steps = self._accumulation or 0
        if self._use_ema:
            a.use_ema = True
            a.ema_momentum = float(self.ema_momentum)
            a.ema_overwrite_frequency = int(self.ema_overwrite_frequency or 0)
        self._fill(a)
        self._fill_for(a, native)
        return a

    def _fill_for(self, a, native):
        """Per-program constants (none here)."""

    def _mark_sent(self, native):
        """`native` holds this optimizer's constants as they are now (set_optimizer at compile)."""
        self._sent = (weakref.ref(native), self._version)

    def _before_step(self, native):
        """Before each step, on `native`'s state (ScheduleFreeAdamW builds its z there)."""

    def _send_to(self, native):
        """Before a step: sends the constants again if one was set since `native` got them."""
        self._before_step(native)
        ref, version = self._sent
        if version != self._version or ref is None or ref() is not native:
            native.set_optimizer_args(self.native_args(native))
            self._mark_sent(native)

    # -- the EMA (use_ema): Keras's finalize_variable_values, and what SwapEMAWeights needs --
    def _ema_native(self):
        """The native program this optimizer trains (the one its constants were last sent to)."""
        if not self._use_ema:
            raise ValueError(f"{type(self).__name__} keeps no moving average of the weights: SwapEMAWeights and the "
                             f"EMA need an optimizer made with use_ema=True. Received: use_ema={self._use_ema}")
        native = self._sent[0]() if self._sent[0] is not None else None
        if native is None:
            raise ValueError(f"{type(self).__name__} has no moving averages yet: compile a model with it first")
        return native

    def finalize_variable_values(self, var_list=None):
        """Keras's: with use_ema, the trainable weights take their moving averages (fit calls it at its
        end). bigcore's averages cover every trainable weight of the compiled program, which is the
        model's trainable_weights that Keras passes as var_list."""
        if self._use_ema:
            self._ema_native().ema_exchange(EMA_TO_WEIGHTS)

    def swap_ema_weights(self):
        """Swaps the trainable weights with their moving averages (SwapEMAWeights)."""
        self._ema_native().ema_exchange(EMA_SWAP)

    def assign_ema_from_weights(self):
        """The moving averages take the trainable weights' values (SwapEMAWeights's finalize)."""
        self._ema_native().ema_exchange(EMA_FROM_WEIGHTS)

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name, "learning_rate": lr if not callable(lr) else _schedule_config(lr),
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm, "use_ema": self._use_ema,
                "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
                **({"gradient_accumulation_steps": self._accumulation} if self._accumulation else {}),
                **{name: getattr(self, name) for name, _ in self._fields}}

    @classmethod
    def from_config(cls, config):
        lr = config.get("learning_rate")
        if isinstance(lr, dict):  # a serialized schedule
            config = {**config, "learning_rate": schedules.deserialize(lr)}
        return cls(**config)


def _schedule_config(s):
    return schedules.serialize(s)


class SGD(Optimizer):
    kind = SGD_KIND
    slots = 1
    _fields = (("momentum", "momentum"), ("nesterov", "nesterov"))
    momentum, nesterov = _Constant(_in_unit(high_open=False)), _Constant()

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.momentum, self.nesterov = momentum, bool(nesterov)


class Adam(Optimizer):
    kind = ADAM_KIND
    slots = 3  # m, v, v_hat (amsgrad)
    # Keras: alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), computed natively per step (in double,
    # from these betas); eps added after sqrt(v)
    _fields = (("beta_1", "beta1"), ("beta_2", "beta2"), ("epsilon", "eps"), ("amsgrad", "amsgrad"))
    # beta_1 = 1 divides by 1 - beta_1^t = 0; beta_2 = 1 makes every step 0
    beta_1, beta_2, epsilon, amsgrad = _Constant(_in_unit()), _Constant(_in_unit()), _Constant(_non_negative), _Constant()

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, bool(amsgrad)


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kw):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kw)


class RMSprop(Optimizer):
    kind = RMSPROP_KIND
    slots = 3  # velocity, momentum, average gradient (centered)
    _fields = (("rho", "rho"), ("momentum", "momentum"), ("epsilon", "eps"), ("centered", "centered"))
    rho = _Constant(_in_unit())  # rho = 1 never moves the average from 0
    momentum, epsilon, centered = _Constant(_in_unit(high_open=False)), _Constant(_non_negative), _Constant()

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, bool(centered)


class Adagrad(Optimizer):
    kind = ADAGRAD_KIND
    slots = 1
    _fields = (("initial_accumulator_value", None), ("epsilon", "eps"))
    epsilon = _Constant(_non_negative)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        initial_accumulator_value = _non_negative("initial_accumulator_value", initial_accumulator_value)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon
        self.slot_init = initial_accumulator_value


class _SetBeforeTraining(_Constant):
    """A constant that cannot change once the optimizer has taken a step."""

    def __set__(self, obj, value):
        before = obj.__dict__.get(self.name, value)
        if getattr(obj, "_iterations", 0) and value != before:
            raise ValueError(f"{type(obj).__name__}'s `{self.name}` cannot change after training started (step "
                             f"{obj.iterations}): Keras would go on from a running product of the old value, which "
                             f"bigcore derives from the step count. Received: {self.name}={value!r} (was {before!r})")
        super().__set__(obj, value)


class Nadam(Optimizer):
    """Adam with Nesterov momentum. Keras's momentum-schedule product (_u_product) is no slot here:
    the native update derives it from beta_1 and the step count (optim.h: nadam_u_product), so a
    resumed run gets it back from `iterations` (and beta_1 stays as training found it)."""
    kind = NADAM_KIND
    slots = 2  # m, v
    _fields = (("beta_1", "beta1"), ("beta_2", "beta2"), ("epsilon", "eps"))
    # beta_2 = 1 divides by 1 - beta_2^t = 0 (beta_1 = 1 divides by nothing: 1 - the product stays > 0)
    beta_1 = _SetBeforeTraining(_in_unit(high_open=False))
    beta_2, epsilon = _Constant(_in_unit()), _Constant(_non_negative)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    @property
    def _u_product(self):
        """Keras's running product after `iterations` steps, as the native update computes it."""
        return _core.nadam_u_product(self.beta_1, self.iterations)


class Adamax(Optimizer):
    kind = ADAMAX_KIND
    slots = 2  # m, u (the decayed infinity norm)
    _fields = (("beta_1", "beta1"), ("beta_2", "beta2"), ("epsilon", "eps"))
    # beta_1 = 1 divides by 1 - beta_1^t = 0; beta_2 = 1 keeps the largest |g| seen, which is sound
    beta_1, beta_2, epsilon = _Constant(_in_unit()), _Constant(_in_unit(high_open=False)), _Constant(_non_negative)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon


class Adadelta(Optimizer):
    kind = ADADELTA_KIND
    slots = 2  # accumulated grad^2, accumulated delta^2
    _fields = (("rho", "rho"), ("epsilon", "eps"))
    # rho outside [0, 1] makes the averages negative, and their square roots NaN
    rho, epsilon = _Constant(_in_unit(high_open=False)), _Constant(_non_negative)

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.rho, self.epsilon = rho, epsilon


class Lion(Optimizer):
    kind = LION_KIND
    slots = 1  # m
    _fields = (("beta_1", "beta1"), ("beta_2", "beta2"))
    # Keras refuses beta_1 outside (0, 1] ("the optimizer degenerates to SignSGD")
    beta_1, beta_2 = _Constant(_in_unit(low_open=True, high_open=False)), _Constant(_in_unit(high_open=False))

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.beta_1, self.beta_2 = beta_1, beta_2


class Ftrl(Optimizer):
    """Keras's FTRL-Proximal, element-wise: the accumulator starts at initial_accumulator_value, the
    linear term at 0."""
    kind = FTRL_KIND
    slots = 2  # accumulator, linear
    _fields = (("learning_rate_power", "learning_rate_power"), ("initial_accumulator_value", None),
               ("l1_regularization_strength", "l1"), ("l2_regularization_strength", "l2"),
               ("l2_shrinkage_regularization_strength", "l2_shrinkage"), ("beta", "ftrl_beta"))
    learning_rate_power = _Constant(_non_positive)
    l1_regularization_strength, l2_regularization_strength = _Constant(_non_negative), _Constant(_non_negative)
    l2_shrinkage_regularization_strength, beta = _Constant(_non_negative), _Constant(_number)

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.initial_accumulator_value = _non_negative("initial_accumulator_value", initial_accumulator_value)
        self.slot_init = self.initial_accumulator_value
        self.learning_rate_power = learning_rate_power
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta


class Lamb(Optimizer):
    """Adam's moments with a trust ratio per weight tensor: the step of each weight is scaled by
    |w| / |update| over that weight (one arena segment), as Keras's update_step sees one variable."""
    kind = LAMB_KIND
    slots = 2  # m, v
    _fields = (("beta_1", "beta1"), ("beta_2", "beta2"), ("epsilon", "eps"))
    # beta = 1 divides by 1 - beta^t = 0
    beta_1, beta_2, epsilon = _Constant(_in_unit()), _Constant(_in_unit()), _Constant(_non_negative)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon


class Adafactor(Optimizer):
    """Keras's Adafactor: for a weight of rank >= 2 the second moments are factored over its last
    two axes (row means r, column means c, kept packed at the weight's offset of slots 0 and 1), for
    one of rank < 2 kept whole (slot 2, which also holds the factored weights' v = r / mean(r) x c).
    relative_step is kept for the config: Keras's step takes min(lr, 1 / sqrt(t)) whatever it is."""
    kind = ADAFACTOR_KIND
    slots = 3  # r, c, v
    _fields = (("beta_2_decay", "beta2_decay"), ("epsilon_1", "eps1"), ("epsilon_2", "eps2"),
               ("clip_threshold", "clip_threshold"), ("relative_step", None))
    beta_2_decay, epsilon_1, epsilon_2 = _Constant(_number), _Constant(_non_negative), _Constant(_non_negative)
    clip_threshold, relative_step = _Constant(_positive), _Constant()

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, bool(relative_step)


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"Argument `{name}` must be an integer >= 0. Received: {name}={value!r}")
    return int(value)


def _non_negative_or_none(name, value):
    return None if value is None else _non_negative(name, value)


def _patterns(name, value):
    """Muon's exclude_layers: a list of regular expressions (None: none)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"Argument `{name}` must be a list of strings (regular expressions matched against the "
                         f"weight paths) or None. Received: {name}={value!r}")
    for v in value:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"Argument `{name}`: {v!r} is not a regular expression ({e})") from None
    return list(value)


class Muon(Optimizer):
    """Keras's Muon: each 2-D weight (unless its path contains "embedding" with exclude_embeddings, or
    an exclude_layers expression matches its path) takes momentum, then Newton-Schulz orthogonalization
    of the update, natively (cpp/runtime/optim.cpp: muon_segment, GEMMs); every other trainable weight
    takes Keras's AdamW step with the adam_* constants at learning_rate * adam_lr_ratio. Weight decay
    (weight_decay on the Muon weights, adam_weight_decay on the others) runs at the main rate.
    Slots: 0 the momentum of every weight, 1 the AdamW weights' velocity."""
    kind = MUON_KIND
    slots = 2
    _fields = (("adam_beta_1", "beta1"), ("adam_beta_2", "beta2"), ("epsilon", "eps"), ("exclude_layers", None),
               ("muon_a", "muon_a"), ("muon_b", "muon_b"), ("muon_c", "muon_c"), ("adam_lr_ratio", "adam_lr_ratio"),
               ("momentum", "muon_momentum"), ("ns_steps", "ns_steps"), ("nesterov", "nesterov"),
               ("exclude_embeddings", None), ("adam_weight_decay", None), ("rms_rate", None))
    # adam_beta_1 = 1 divides by 1 - beta^t = 0
    adam_beta_1, adam_beta_2, epsilon = _Constant(_in_unit()), _Constant(_in_unit()), _Constant(_non_negative)
    muon_a, muon_b, muon_c = _Constant(_number), _Constant(_number), _Constant(_number)
    adam_lr_ratio, momentum = _Constant(_non_negative), _Constant(_in_unit(high_open=False))
    ns_steps, nesterov = _Constant(_count), _Constant()
    adam_weight_decay, rms_rate = _Constant(_non_negative_or_none), _Constant(_positive_or_none)
    # which weights take which step: fixed at compile (_prepare), as Keras's build fixes its slots
    exclude_layers, exclude_embeddings = _SetBeforeTraining(_patterns), _SetBeforeTraining()

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445,
                 muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True,
                 rms_rate=0.2, **kw):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kw)
        self.adam_beta_1, self.adam_beta_2, self.epsilon = adam_beta_1, adam_beta_2, epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio, self.momentum, self.ns_steps = adam_lr_ratio, momentum, ns_steps
        self.nesterov, self.exclude_embeddings = bool(nesterov), bool(exclude_embeddings)
        self.exclude_layers = exclude_layers
        self.adam_weight_decay, self.rms_rate = adam_weight_decay, rms_rate
        self._weights_of = weakref.WeakKeyDictionary()  # native program -> its (weight, offset) list

    def _should_use_adamw(self, variable):
        """Keras's rule: AdamW for a weight of rank other than 2, an embedding (by path, with
        exclude_embeddings) and one whose path an exclude_layers expression matches."""
        if len(variable.shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in variable.path.lower():
            return True
        return any(re.search(k, variable.path) for k in self.exclude_layers)

    def _prepare(self, program):
        self._weights_of[program.native] = list(program.weights)

    def _muon_offsets(self, native):
        """The arena offsets of the weights that take the Muon step (sent with the constants, so a
        change of exclude_layers before training reaches the program)."""
        return sorted(off for w, off in self._weights_of.get(native, ())
                      if not self._should_use_adamw(w) and math.prod(w.shape) > 0)

    def _fill(self, a):
        super()._fill(a)
        a.use_rms_rate = self.rms_rate is not None
        a.rms_rate = float(self.rms_rate or 0.0)
        a.adam_weight_decay = float(self.adam_weight_decay or 0.0)

    def _fill_for(self, a, native):
        if native is not None:
            a.muon_offsets = self._muon_offsets(native)


class ScheduleFreeAdamW(Optimizer):
    """Keras's schedule-free AdamW: slot 0 holds z (Keras's "momentum"), set to the weights before the
    first step as Keras's build sets it; slot 1 the velocity. The weights hold y, the interpolation
    (1 - beta_1) z + beta_1 x, during training and evaluation alike, as in Keras (which keeps x only
    implicitly and swaps nothing for evaluation); x is recovered from y and z at each step in Keras's
    float32 order (cpp/runtime/optim.cpp: schedule_free_chunk)."""
    kind = SCHEDULE_FREE_KIND
    slots = 2  # z, v
    _fields = (("beta_1", "beta1"), ("beta_2", "beta2"), ("epsilon", "eps"), ("warmup_steps", "warmup_steps"))
    # beta_1 = 0 divides by 0 (x = (y - z) / beta_1); beta_2 = 1 divides by 1 - beta_2^t = 0
    beta_1, beta_2 = _Constant(_in_unit(low_open=True)), _Constant(_in_unit())
    epsilon, warmup_steps = _Constant(_non_negative), _Constant(_count)

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, name=None,
                 **kw):
        super().__init__(learning_rate=learning_rate, name=name or "schedule_free_adam_w", **kw)
        self.beta_1, self.beta_2, self.epsilon, self.warmup_steps = beta_1, beta_2, epsilon, warmup_steps
        self._z_ready = weakref.WeakKeyDictionary()  # native programs whose z is built

    def _before_step(self, native):
        """Keras's build, at the first step on `native`: z takes the weights, unless a file (or a step)
        already set it (an unbuilt z is all zeros, where the weights' copy changes nothing)."""
        if native in self._z_ready:
            return
        self._z_ready[native] = True
        z = native.opt_slot(0)
        if not z.any():
            z[:] = native.params()


class LossScaleOptimizer(Optimizer):
    """Keras's dynamic loss scaling around an inner optimizer. bigcore trains in float32, where the
    gradients of the loss times a power of two are the gradients times it, exactly unless they
    overflow: each step checks natively that gradient * dynamic_scale is finite over the trainable
    weights (Keras's check_finite); if so the inner optimizer updates with the gradients themselves
    (Keras's unscaled ones) and, after dynamic_growth_steps such steps in a row, the scale doubles;
    if not the step is skipped (no update; the inner optimizer's iterations stay) and the scale
    halves. Everything else (learning rate, iterations, state slots, EMA) is the inner optimizer's."""

    _BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                      "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                      "loss_scale_factor": None, "gradient_accumulation_steps": None}

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):  # Keras's messages
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for key, default in self._BASE_DEFAULTS.items():
            if key in kwargs and kwargs.pop(key) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{key}`. Instead, set `{key}` on the "
                                 "`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer's `inner_optimizer` must be a bigcore optimizer (not another "
                             f"LossScaleOptimizer). Received: inner_optimizer={inner_optimizer!r}")
        scale = _positive("initial_scale", initial_scale)
        if isinstance(dynamic_growth_steps, bool) or not isinstance(dynamic_growth_steps, numbers.Integral) \
                or dynamic_growth_steps < 1:
            raise ValueError("Argument `dynamic_growth_steps` must be an integer >= 1. "
                             f"Received: dynamic_growth_steps={dynamic_growth_steps!r}")
        self.__dict__["inner_optimizer"] = inner_optimizer
        self.initial_scale, self.dynamic_growth_steps = scale, int(dynamic_growth_steps)
        self.name = name or "loss_scale_optimizer"
        self.dynamic_scale, self.step_counter = scale, 0  # Keras's variables of these names

    def __getattr__(self, name):  # the inner optimizer's own constants (beta_1, amsgrad, _u_product, ...)
        if name == "inner_optimizer":
            raise AttributeError(name)
        return getattr(self.inner_optimizer, name)

    # what the trainer, the files and the callbacks read: the inner optimizer's
    slots = property(lambda self: self.inner_optimizer.slots)
    slot_init = property(lambda self: self.inner_optimizer.slot_init)
    kind = property(lambda self: self.inner_optimizer.kind)
    use_ema = property(lambda self: self.inner_optimizer.use_ema)
    gradient_accumulation_steps = property(lambda self: self.inner_optimizer.gradient_accumulation_steps)
    _learning_rate = property(lambda self: self.inner_optimizer._learning_rate)

    @property
    def _iterations(self):
        return self.inner_optimizer._iterations

    @_iterations.setter
    def _iterations(self, value):
        self.inner_optimizer._iterations = value

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    def _current_lr(self):
        return self.inner_optimizer._current_lr()

    def _prepare(self, program):
        self.inner_optimizer._prepare(program)

    def native_args(self, native=None):
        return self.inner_optimizer.native_args(native)

    def _mark_sent(self, native):
        self.inner_optimizer._mark_sent(native)

    def _send_to(self, native):
        self.inner_optimizer._send_to(native)

    def finalize_variable_values(self, var_list=None):
        self.inner_optimizer.finalize_variable_values(var_list)

    def swap_ema_weights(self):
        self.inner_optimizer.swap_ema_weights()

    def assign_ema_from_weights(self):
        self.inner_optimizer.assign_ema_from_weights()

    def scale_loss(self, loss):
        """Keras's: the loss times the current scale."""
        return loss * self.dynamic_scale

    def _after_step(self, finite):
        """Keras's _stateful_handle_finite_grads / _non_finite_grads, after the step's check."""
        if not finite:
            self.step_counter, self.dynamic_scale = 0, self.dynamic_scale * 0.5
        elif self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter, self.dynamic_scale = 0, self.dynamic_scale * 2.0
        else:
            self.step_counter += 1

    def get_config(self):
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        inner = config.pop("inner_optimizer", None)
        return cls(deserialize(inner) if isinstance(inner, dict) else get(inner), **config)


_ALIASES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "nadam": Nadam,
            "adamax": Adamax, "adadelta": Adadelta, "lion": Lion, "ftrl": Ftrl, "adafactor": Adafactor,
            "muon": Muon, "schedulefreeadamw": ScheduleFreeAdamW}
# Keras 3 takes no string for Lamb (keras.optimizers.get("lamb") raises); its class name still
# deserializes (a .keras file names it with its module)
_CLASSES = {c.__name__: c for c in (*_ALIASES.values(), Lamb, LossScaleOptimizer)}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer: {identifier!r}. Supported: {', '.join(_ALIASES)}")


def serialize(opt):
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


def deserialize(config):
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown optimizer: {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))
