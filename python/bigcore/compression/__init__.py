"""Model compression: magnitude pruning (tfmot's API), and the sizes a pruned or quantized model
takes when saved. Prune -> fine-tune -> strip -> quantize is one pipeline (bigcore.examples.compress).

    pruned = prune_low_magnitude(model, pruning_schedule=PolynomialDecay(0.0, 0.8, begin_step=0, end_step=2000))
    pruned.fit(x, y, epochs=2)                       # masks follow the schedule; pruned weights stay 0
    small = bigcore.quantization.quantize(strip_pruning(pruned))
    summary(small); small.save("small.bigcore")      # sparse int8 kernels stored as bitmask/CSR
"""

from bigcore.compression.pruning import (
           UpdatePruningStep,
           is_pruned,
           prunable_weights,
           prune_low_magnitude,
           strip_pruning,
)
from bigcore.compression.schedules import ConstantSparsity, PolynomialDecay, PruningSchedule
from bigcore.compression.summary import summary
from bigcore.saving import storage  # noqa: F401  (bigcore.compression.storage before saving/ held it)

__all__ = ["ConstantSparsity", "PolynomialDecay", "PruningSchedule", "UpdatePruningStep", "is_pruned",
           "prunable_weights", "prune_low_magnitude", "strip_pruning", "summary"]
