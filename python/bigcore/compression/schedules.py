"""Pruning schedules, as tfmot defines them: a schedule maps the training step (the optimizer's
iteration count when a batch begins) to (prune now?, sparsity).

    ConstantSparsity(0.8, begin_step=0, end_step=-1, frequency=100)
    PolynomialDecay(initial_sparsity=0.0, final_sparsity=0.8, begin_step=0, end_step=1000, power=3, frequency=100)

A mask is recomputed on steps begin_step, begin_step + frequency, ... up to end_step (-1: no end);
between them the last mask holds.
"""

import numbers


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_sparsity(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 <= float(v) < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={v!r}")
    return float(v)


def _check_steps(begin_step, end_step, frequency, allow_no_end):
    for name, v in (("begin_step", begin_step), ("end_step", end_step), ("frequency", frequency)):
        if not _is_int(v):
            raise ValueError(f"{name} must be an int. Received: {name}={v!r}")
    if begin_step < 0:
        raise ValueError(f"begin_step must be >= 0. Received: begin_step={begin_step}")
    if end_step != -1 or not allow_no_end:
        if end_step < 0:
            raise ValueError(f"end_step must be >= 0{' or -1 (no end)' if allow_no_end else ''}. "
                             f"Received: end_step={end_step}")
        if end_step < begin_step:
            raise ValueError(f"end_step must be >= begin_step. Received: begin_step={begin_step}, end_step={end_step}")
    if frequency <= 0:
        raise ValueError(f"frequency must be > 0. Received: frequency={frequency}")
    return int(begin_step), int(end_step), int(frequency)


class PruningSchedule:
    """Base class: __call__(step) -> (should_prune, sparsity)."""

    def _should_prune(self, step):
        in_range = step >= self.begin_step and (self.end_step == -1 or step <= self.end_step)
        return in_range and (step - self.begin_step) % self.frequency == 0

    def __call__(self, step):
        raise NotImplementedError

    @property
    def final_sparsity(self):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ConstantSparsity(PruningSchedule):
    def __init__(self, target_sparsity, begin_step=0, end_step=-1, frequency=100):
        self.target_sparsity = _check_sparsity("target_sparsity", target_sparsity)
        self.begin_step, self.end_step, self.frequency = _check_steps(begin_step, end_step, frequency, True)

    def __call__(self, step):
        return self._should_prune(step), self.target_sparsity

    @property
    def final_sparsity(self):
        return self.target_sparsity

    def get_config(self):
        return {"target_sparsity": self.target_sparsity, "begin_step": self.begin_step,
                "end_step": self.end_step, "frequency": self.frequency}


class PolynomialDecay(PruningSchedule):
    """sparsity(step) = (initial - final) * (1 - p)^power + final, p = clip((step - begin) / (end - begin), 0, 1)."""

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3, frequency=100):
        self.initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity_ = _check_sparsity("final_sparsity", final_sparsity)
        self.begin_step, self.end_step, self.frequency = _check_steps(begin_step, end_step, frequency, False)
        if isinstance(power, bool) or not isinstance(power, numbers.Real) or power <= 0:
            raise ValueError(f"power must be a positive number. Received: power={power!r}")
        self.power = float(power)

    def sparsity(self, step):
        span = self.end_step - self.begin_step
        p = 1.0 if span == 0 else min(1.0, max(0.0, (step - self.begin_step) / span))
        return (self.initial_sparsity - self.final_sparsity_) * (1.0 - p) ** self.power + self.final_sparsity_

    def __call__(self, step):
        return self._should_prune(step), self.sparsity(step)

    @property
    def final_sparsity(self):
        return self.final_sparsity_

    def get_config(self):
        return {"initial_sparsity": self.initial_sparsity, "final_sparsity": self.final_sparsity_,
                "begin_step": self.begin_step, "end_step": self.end_step, "power": self.power,
                "frequency": self.frequency}


_CLASSES = {c.__name__: c for c in (ConstantSparsity, PolynomialDecay)}


def serialize(schedule):
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(d):
    if not isinstance(d, dict) or d.get("class_name") not in _CLASSES or not isinstance(d.get("config"), dict):
        raise ValueError(f"Not a pruning schedule config: {d!r}")
    return _CLASSES[d["class_name"]].from_config(d["config"])
