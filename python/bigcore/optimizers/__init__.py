"""Optimizers with Keras's arguments and update rules, applied by one fused native pass over the
parameter arena (cpp/kernels/float/body.h: optim_update). Python only evaluates the per-step scalars."""

import math

from bigcore._native import _core
from bigcore.optimizers import schedules

SGD_KIND, ADAM_KIND, RMSPROP_KIND, ADAGRAD_KIND = 0, 1, 2, 3


class Optimizer:
    kind = None
    slots = 0          # arena-sized state buffers
    slot_init = 0.0

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unknown argument(s) for {type(self).__name__}: {sorted(kwargs)}")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set.")
        self._learning_rate = learning_rate  # a float or a schedule
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._args = _core.OptimArgs()

    @property
    def learning_rate(self):
        """The rate the next step uses (a schedule is evaluated at the current iteration), as Keras."""
        return self._current_lr()

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(self._learning_rate) and not callable(value):
            raise TypeError("This optimizer was created with a learning rate schedule, so its learning rate "
                            "cannot be set to a number (Keras behaves the same)")
        self._learning_rate = value

    def _current_lr(self):
        lr = self._learning_rate
        return float(lr(self.iterations) if callable(lr) else lr)

    def _fill(self, a, lr):
        """Sets the step's scalars beyond lr on the native argument block."""

    def step_args(self):
        """The native argument block for the next update (called once per training step)."""
        a = self._args
        lr = self._current_lr()
        a.kind = self.kind
        a.lr = lr
        a.weight_decay = float(self.weight_decay or 0.0)
        a.clipnorm = float(self.clipnorm or 0.0)
        a.clipvalue = float(self.clipvalue or 0.0)
        a.global_clipnorm = float(self.global_clipnorm or 0.0)
        self._fill(a, lr)
        return a

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name, "learning_rate": lr if not callable(lr) else _schedule_config(lr),
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

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

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _fill(self, a, lr):
        a.momentum, a.nesterov = self.momentum, self.nesterov

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    kind = ADAM_KIND
    slots = 3  # m, v, v_hat (amsgrad)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, bool(amsgrad)

    def _fill(self, a, lr):
        t = self.iterations + 1
        # Keras: alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t); eps added after sqrt(v)
        a.alpha = lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        a.beta1, a.beta2, a.eps, a.amsgrad = self.beta_1, self.beta_2, self.epsilon, self.amsgrad

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kw):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kw)


class RMSprop(Optimizer):
    kind = RMSPROP_KIND
    slots = 3  # velocity, momentum, average gradient (centered)

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, bool(centered)

    def _fill(self, a, lr):
        a.rho, a.momentum, a.eps, a.centered = self.rho, self.momentum, self.epsilon, self.centered

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    kind = ADAGRAD_KIND
    slots = 1

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kw):
        super().__init__(learning_rate=learning_rate, **kw)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon
        self.slot_init = initial_accumulator_value

    def _fill(self, a, lr):
        a.eps = self.epsilon

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_ALIASES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


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
    cls = {c.__name__: c for c in _ALIASES.values()}.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown optimizer: {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))
