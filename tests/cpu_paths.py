"""The float CPU paths bigcore.config.set_cpu_isa can force, and which of them this CPU runs.
(The int8 paths have their own switch: reference_quant.forced.)"""

import bigcore

FLOAT_ISAS = ("ref", "avx2", "avx512")


def isa_supported(isa):
    """True when this CPU runs `isa`; the current path is left as it was."""
    before = bigcore.config.cpu_features()["isa"]
    try:
        bigcore.config.set_cpu_isa(isa)
        return True
    except ValueError:
        return False
    finally:
        bigcore.config.set_cpu_isa(before)


def supported_isas():
    return [i for i in FLOAT_ISAS if isa_supported(i)]
