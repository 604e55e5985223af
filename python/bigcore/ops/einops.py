"""keras.ops.rearrange: einops-style axis rearrangement ("b h w c -> b (h w) c",
"b (h1 h) w c -> (b h1) h w c" with h1=2), as reshape + transpose + reshape: eager on arrays,
recorded on symbolic tensors (the batch axis may only stay an axis of its own)."""

import re

from bigcore.ops.core import shape as _shape
from bigcore.ops.numpy import reshape, transpose

_TOKEN = re.compile(r"\w+|\([^)]*\)")


def _groups(side):
    """The axes of one side of a pattern: each a list of names (one name, or a parenthesised group)."""
    groups = []
    for tok in _TOKEN.findall(side):
        names = tok[1:-1].split() if tok.startswith("(") else [tok]
        for n in names:
            if not n.isidentifier():
                raise ValueError(f"rearrange: axis names must be identifiers. Received: {n!r}")
        groups.append(names)
    return groups


def _product(values):
    p = 1
    for v in values:
        p = p * v
    return p


def rearrange(tensor, pattern, **axes_lengths):
    """Rearranges the axes by an einops pattern: names permute axes, "(a b)" on the left splits an
    axis (all but one of its parts' lengths given as keywords), on the right merges axes."""
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise ValueError(f"rearrange: the pattern must be 'input axes -> output axes'. Received: {pattern!r}")
    left, right = re.split(r"\s*->\s*", pattern.strip())
    ins, outs = _groups(left), _groups(right)
    dims = list(_shape(tensor))
    if len(ins) != len(dims):
        raise ValueError(f"rearrange: the pattern's input names {len(ins)} axes, the tensor has {len(dims)} "
                         f"(shape {tuple(dims)})")
    flat_in = [n for g in ins for n in g]
    flat_out = [n for g in outs for n in g]
    if sorted(flat_in) != sorted(flat_out) or len(set(flat_in)) != len(flat_in):
        raise ValueError(f"rearrange: each axis name must appear once on each side. Received: {pattern!r}")
    sizes = {}
    for group, dim in zip(ins, dims):
        if len(group) == 1:
            sizes[group[0]] = dim
            continue
        unknown = [n for n in group if n not in axes_lengths]
        if len(unknown) > 1:
            raise ValueError(f"rearrange: give the lengths of all but one of {group} (keywords)")
        if dim is None:
            raise ValueError(f"rearrange: the batch axis (length None) cannot be split into {group}")
        known = _product(int(axes_lengths[n]) for n in group if n in axes_lengths)
        for n in group:
            sizes[n] = int(axes_lengths[n]) if n in axes_lengths else dim // known
    split = [sizes[n] for n in flat_in]
    x = reshape(tensor, split) if split != dims else tensor
    order = [flat_in.index(n) for n in flat_out]
    if order != list(range(len(order))):
        x = transpose(x, order)
    for g in outs:
        if len(g) != 1 and any(sizes[n] is None for n in g):
            raise ValueError(f"rearrange: the batch axis (length None) cannot be merged with others: {g}")
    merged = [_product(sizes[n] for n in g) for g in outs]
    return reshape(x, merged) if merged != [sizes[n] for n in flat_out] else x
