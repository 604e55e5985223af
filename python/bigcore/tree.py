"""keras.tree: nested structures of lists, tuples (named too), dicts and deques, whose leaves are
anything else (None included). Keras's rules, in plain Python: a dict's values go in sorted key
order (an OrderedDict's in its own), a namedtuple by position, and structures match only where
their node types match (a list is not a tuple; any two mappings with the same keys match).
"""

import collections

__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten", "flatten_with_path", "is_nested",
           "lists_to_tuples", "map_shape_structure", "map_structure", "map_structure_up_to", "pack_sequence_as",
           "register_tree_node_class", "traverse"]

_MISMATCH = "Structures don't have the same nested structure."
_CUSTOM = {}  # class -> registered by register_tree_node_class


class MAP_TO_NONE:  # noqa: N801 (Keras's name)
    """traverse(): a function returning this class replaces the sub-tree with None."""


def register_tree_node_class(cls):
    """A class as a node: its tree_flatten() gives (children, aux_data), its classmethod
    tree_unflatten(aux_data, children) rebuilds it (Keras's and JAX's protocol)."""
    if not (callable(getattr(cls, "tree_flatten", None)) and callable(getattr(cls, "tree_unflatten", None))):
        raise TypeError(f"register_tree_node_class: {cls!r} needs tree_flatten() and tree_unflatten(aux, children)")
    _CUSTOM[cls] = True
    return cls


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(structure):
    """Whether structure is a node (a sequence, a mapping, a namedtuple), not a leaf."""
    return isinstance(structure, (list, tuple, dict, collections.deque)) or type(structure) in _CUSTOM


def _keys(node):
    if isinstance(node, collections.OrderedDict):
        return list(node)
    try:
        return sorted(node)
    except TypeError:
        raise TypeError(f"keras.tree: a dict's keys must be sortable. Received: {list(node)!r}") from None


def _children(node):
    """(children, paths' keys) of a node, in flatten's order."""
    if isinstance(node, dict):
        keys = _keys(node)
        return [node[k] for k in keys], keys
    if type(node) in _CUSTOM:
        children, _ = node.tree_flatten()
        children = list(children)
        return children, list(range(len(children)))
    items = list(node)
    return items, list(range(len(items)))


def _rebuild(node, children):
    """A node like `node` holding `children` (in _children's order)."""
    if isinstance(node, dict):
        by_key = dict(zip(_keys(node), children))
        pairs = [(k, by_key[k]) for k in node]  # the structure's own key order
        if isinstance(node, collections.defaultdict):
            return type(node)(node.default_factory, pairs)
        return type(node)(pairs)
    if type(node) in _CUSTOM:
        _, aux = node.tree_flatten()
        return type(node).tree_unflatten(aux, list(children))
    if _is_namedtuple(node):
        return type(node)(*children)
    if isinstance(node, collections.deque):
        return collections.deque(children, maxlen=node.maxlen)
    if isinstance(node, tuple):
        return tuple(children)
    return list(children)


def _same_node(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b)
    if type(a) is not type(b) and not (isinstance(a, list) and isinstance(b, list)
                                       and not type(a) in _CUSTOM and not type(b) in _CUSTOM):
        return False
    return len(_children(a)[0]) == len(_children(b)[0])


def _leaves(structure, path, out, leaf=None):
    if (leaf is not None and leaf(structure)) or not is_nested(structure):
        out.append((path, structure))
        return
    children, keys = _children(structure)
    for k, c in zip(keys, children):
        _leaves(c, path + (k,), out, leaf)


def flatten(structure):
    """The leaves, depth first (flatten(None) == [None], flatten(1) == [1])."""
    out = []
    _leaves(structure, (), out)
    return [v for _, v in out]


def flatten_with_path(structure):
    """[(path, leaf)]: a path is the tuple of keys (a dict's) and positions leading to the leaf."""
    out = []
    _leaves(structure, (), out)
    return out


def pack_sequence_as(structure, flat_sequence):
    """flat_sequence's items in structure's nesting (the inverse of flatten)."""
    flat = list(flat_sequence)
    count = len(flatten(structure))
    if len(flat) != count:
        raise ValueError(f"The target structure has {count} leaves, but flat_sequence has {len(flat)} items. "
                         f"Received: structure={structure!r}")
    it = iter(flat)

    def build(node):
        if not is_nested(node):
            return next(it)
        return _rebuild(node, [build(c) for c in _children(node)[0]])

    return build(structure)


def _zip_map(func, structures, none_is_leaf, leaf=None):
    first = structures[0]
    if (leaf is not None and leaf(first)) or not is_nested(first):
        if len(structures) > 1 and any(is_nested(s) and not (leaf is not None and leaf(s)) for s in structures[1:]):
            raise ValueError(_MISMATCH)
        if first is None and not none_is_leaf:
            return None
        return func(*structures)
    for s in structures[1:]:
        if not is_nested(s) or not _same_node(first, s):
            raise ValueError(_MISMATCH)
    columns = [_children(s)[0] if not isinstance(s, dict) else [s[k] for k in _keys(first)] for s in structures]
    return _rebuild(first, [_zip_map(func, list(cs), none_is_leaf, leaf) for cs in zip(*columns)])


def map_structure(func, *structures, none_is_leaf=True):
    """func over the leaves of one or more structures of the same nesting; the first's node types."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    if not callable(func):
        raise TypeError(f"map_structure: func must be callable. Received: {func!r}")
    return _zip_map(func, list(structures), none_is_leaf)


def map_structure_up_to(shallow_structure, func, *structures):
    """func over the sub-structures of `structures` at shallow_structure's leaves."""
    if not structures:
        raise ValueError("Must provide at least one structure")

    def up_to(shallow, *subs):
        if not is_nested(shallow):
            return func(*subs)
        for s in subs:
            if not is_nested(s) or not _same_node(shallow, s):
                raise ValueError(_MISMATCH)
        keys = _keys(shallow) if isinstance(shallow, dict) else None
        columns = [[s[k] for k in keys] if keys is not None else _children(s)[0] for s in subs]
        return _rebuild(shallow, [up_to(c, *cs) for c, cs in zip(_children(shallow)[0], zip(*columns))])

    return up_to(shallow_structure, *structures)


def assert_same_structure(a, b, check_types=None):
    """ValueError unless a and b nest alike (node types included; any two mappings with the same keys
    match). check_types is Keras's deprecated argument, ignored as Keras does."""
    map_structure(lambda *_: None, a, b)


def assert_same_paths(a, b):
    """ValueError unless a and b have the same set of leaf paths (node types aside)."""
    pa = {p for p, _ in flatten_with_path(a)}
    pb = {p for p, _ in flatten_with_path(b)}
    if pa != pb:
        msg = "`a` and `b` don't have the same paths."
        if pa - pb:
            msg += f"\nPaths in `a` missing in `b`:\n{pa - pb}"
        if pb - pa:
            msg += f"\nPaths in `b` missing in `a`:\n{pb - pa}"
        raise ValueError(msg)


def traverse(func, structure, top_down=True):
    """func on every sub-structure, depth first (Keras's): top down, a non-None answer replaces the
    sub-tree (and stops there); bottom up, it replaces the traversed sub-tree. MAP_TO_NONE gives None."""
    if not callable(func):
        raise TypeError(f"traverse: func must be callable. Received: {func!r}")

    def children_done(node):
        if not is_nested(node):
            return node
        return _rebuild(node, [traverse(func, c, top_down) for c in _children(node)[0]])

    if top_down:
        ret = func(structure)
        if ret is None:
            return children_done(structure)
    else:
        done = children_done(structure)
        ret = func(done)
        if ret is None:
            return done
    return None if ret is MAP_TO_NONE else ret


def lists_to_tuples(structure):
    """The structure with every list made a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)


def _is_shape(x):
    return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)


def map_shape_structure(func, structure):
    """map_structure where a tuple or list of ints and Nones (a shape) is a leaf."""
    return _zip_map(func, [structure], True, leaf=_is_shape)
