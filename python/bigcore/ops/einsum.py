"""einsum, tensordot and dot as the primitives a program has: transpose + reshape + batched
matmul (+ sum), decided in Python when the op is called (traced or eager alike).

Two operands at a time: each label is a batch label (in both operands and the result), a
contracted one (in both, not in the result), or free (in one operand and the result); a label in
one operand only and not in the result is summed first. Operand A becomes (batch..., A-free...,
contracted) and B (batch..., 1 per extra A-free axis, contracted, B-free) so one matmul with
NumPy's broadcasting gives (batch..., A-free..., B-free); a reshape and a transpose give the
result's order. The batch axis of a model stays first throughout: the equations attention and
EinsumDense use ("abc,cd->abd", "aecd,abcd->acbe", "acbe,aecd->abcd", ...) keep it so.
"""

import string

import numpy as np

from bigcore.layers import dims
from bigcore.layers.base import KerasTensor, Weight
from bigcore.ops.node import OpLayer, apply


def _shape(x):
    """Every axis: the batch axis and run-time lengths as their Dims (layers/dims.py)."""
    if isinstance(x, KerasTensor):
        return tuple(x.full_dims)
    return tuple(x.shape) if isinstance(x, Weight) else np.shape(x)


def _parse(subscripts, shapes):
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        lhs, out = spec.split("->")
    else:
        lhs, out = spec, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got {len(shapes)}")
    used = set(c for c in spec if c.isalpha())
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = max([len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t] or [0])
    ell = "".join(spare[:n_ell])
    expanded = []
    for t, s in zip(terms, shapes):
        if "..." in t:
            n = len(s) - (len(t) - 3)
            if n < 0:
                raise ValueError(f"einsum: term {t!r} of {subscripts!r} has more labels than its operand's rank")
            t = t.replace("...", ell[len(ell) - n:] if n else "")
        if len(t) != len(s):
            raise ValueError(f"einsum: term {t!r} of {subscripts!r} does not match an operand of rank {len(s)}")
        expanded.append(t)
    if out is None:
        counts = {}
        for t in expanded:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = (ell or "") + "".join(sorted(c for c, n in counts.items() if n == 1 and (not ell or c not in ell)))
    elif "..." in out:
        out = out.replace("...", ell or "")
    for t in expanded:
        if len(set(t)) != len(t):
            raise ValueError(f"einsum: repeated labels within one operand ({t!r}, a diagonal) are not supported")
    return expanded, out


def _transpose(x, labels, order):
    if list(labels) == list(order):
        return x
    return apply("transpose", [x], {"axes": [labels.index(c) for c in order]})


def _reshape(x, shape):
    if any(dims.is_dim(d) for d in shape):  # run-time lengths: the target keeps them (ops.reshape's form)
        shown = [None if dims.is_dim(d) else d for d in shape]
        return OpLayer("reshape", {"shape": shown, "_shape": list(shape)}).record([x])[0]
    return apply("reshape", [x], {"shape": list(shape)})


def _sum_out(x, labels, keep):
    """Sums the axes whose labels are not in keep."""
    drop = [i for i, c in enumerate(labels) if c not in keep]
    if not drop:
        return x, labels
    return apply("sum", [x], {"axis": drop, "keepdims": False}), "".join(c for c in labels if c in keep)


def _single(x, labels, out):
    x, labels = _sum_out(x, labels, out)
    return _transpose(x, labels, out)


def _prod(ds):
    """The product of lengths; None where it would merge the batch axis with another."""
    if any(d is dims.BATCH for d in ds):
        return None if len(ds) > 1 else dims.BATCH
    return dims.product(ds)


def _lead(x, ds):
    """ds with None for x's batch axis (a reshape target keeps it first)."""
    ds = list(ds)
    if ds and isinstance(x, KerasTensor) and x._batched:
        ds[0] = None
    return ds


def _pair(a, la, b, lb, out_labels):
    """A (labels la) times B (lb), keeping out_labels' labels; returns (result, its labels)."""
    a, la = _sum_out(a, la, set(lb) | set(out_labels))
    b, lb = _sum_out(b, lb, set(la) | set(out_labels))
    batch = [c for c in la if c in lb and c in out_labels]
    contr = [c for c in la if c in lb and c not in out_labels]
    afree = [c for c in la if c not in lb]
    bfree = [c for c in lb if c not in la]
    sa, sb = _shape(a), _shape(b)
    da = {c: sa[la.index(c)] for c in la}
    db = {c: sb[lb.index(c)] for c in lb}
    for c in batch + contr:  # two run-time lengths are checked when the model runs (by the matmul)
        if not dims.is_dim(da[c]) and not dims.is_dim(db[c]) and da[c] != db[c] and 1 not in (da[c], db[c]):
            raise ValueError(f"einsum: label {c!r} has length {da[c]} in one operand and {db[c]} in the other")
    k, n = _prod([da[c] for c in contr]), _prod([db[c] for c in bfree])
    if k is None or n is None or dims.BATCH in (k, n):
        raise ValueError("einsum: contracting the batch axis, or merging it with another, is not supported")
    bdims_a, bdims_b = [da[c] for c in batch], [db[c] for c in batch]
    afree_dims = [da[c] for c in afree]
    # A: (batch..., A-free... (at least one), K)
    a = _transpose(a, la, batch + afree + contr)
    a_target = bdims_a + (afree_dims or [1]) + [k]
    if list(_shape(a)) != a_target:
        a = _reshape(a, _lead(a, a_target))
    # B: (batch..., 1 per A-free axis but the last, K, N): matmul broadcasts it over A's free axes
    b = _transpose(b, lb, batch + contr + bfree)
    b_target = bdims_b + [1] * max(len(afree) - 1, 0) + [k, n]
    if list(_shape(b)) != b_target:
        b = _reshape(b, _lead(b, b_target))
    y = apply("matmul", [a, b])
    sy = list(_shape(y))
    y_target = sy[:len(batch)] + afree_dims + [db[c] for c in bfree]
    if sy != y_target:
        y = _reshape(y, _lead(y, y_target))
    return y, "".join(batch + afree + bfree)


def einsum(subscripts, *operands):
    if not operands:
        raise ValueError("einsum needs at least one operand")
    terms, out = _parse(subscripts, [_shape(x) for x in operands])
    for c in out:
        if not any(c in t for t in terms):
            raise ValueError(f"einsum: output label {c!r} appears in no operand of {subscripts!r}")
    x, lx = operands[0], terms[0]
    for i in range(1, len(operands)):
        later = set(out).union(*[set(t) for t in terms[i + 1:]])
        x, lx = _pair(x, lx, operands[i], terms[i], "".join(c for c in lx + terms[i] if c in later or c in out))
    return _single(x, lx, out)


def tensordot(x1, x2, axes=2):
    a, b = len(_shape(x1)), len(_shape(x2))
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a - axes, a)), list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, int) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, int) else list(ax_b)
    if len(ax_a) != len(ax_b):
        raise ValueError(f"tensordot: axes {axes!r} pair unequal numbers of axes")
    if (a == b == len(ax_a) and [i % a for i in ax_a] == [j % b for j in ax_b]
            and any(isinstance(x, KerasTensor) and x._batched for x in (x1, x2))):
        # every axis contracted in order, the batch axis too (a keras-io recommender writes
        # tensordot(u, v, 2) on two (batch, d) tensors): the sum of the elementwise product, a scalar
        return apply("sum", [apply("multiply", [x1, x2])], {"axis": None, "keepdims": False})
    letters = iter(string.ascii_letters)
    la = [next(letters) for _ in range(a)]
    lb = [next(letters) for _ in range(b)]
    for i, j in zip(ax_a, ax_b):
        lb[j % b] = la[i % a]
    contracted = {la[i % a] for i in ax_a}
    out = [c for c in la if c not in contracted] + [c for c in lb if c not in contracted]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", x1, x2)
