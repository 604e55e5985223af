"""bigcore.tree against keras.tree (Keras 3's nested-structure utilities) on the same structures."""

import collections

import numpy as np
import pytest

from bigcore import tree

Point = collections.namedtuple("Point", ["x", "y"])


def _structures():
    return [
        1, None, "leaf", np.ones(2),
        [[1, 2, 3], [4, [5], [[6]]]],
        {100: "world!", 6: "Hello"},
        {"b": (1, 2), "a": [3, {"c": None, "d": 4}]},
        collections.OrderedDict([("z", 1), ("a", (2, 3))]),
        Point(x=(1, 2), y={"k": 3}),
        (1, (2, (3, (4,)))),
        [],
        {"a": []},
        collections.deque([1, [2, 3]]),
    ]


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if tree.is_nested(a) or tree.is_nested(b):
        return type(a) is type(b) and tree.flatten_with_path(a) == tree.flatten_with_path(b)
    return a == b


@pytest.mark.parametrize("i", range(13))
def test_flatten_pack_and_paths_match_keras(keras, i):
    s = _structures()[i]
    leaves = tree.flatten(s)
    want = keras.tree.flatten(s)
    assert len(leaves) == len(want) and all(_same(a, b) for a, b in zip(leaves, want))
    assert tree.is_nested(s) == keras.tree.is_nested(s)
    paths = [p for p, _ in tree.flatten_with_path(s)]
    assert paths == [tuple(p) for p, _ in keras.tree.flatten_with_path(s)]
    marked = list(range(len(leaves)))
    ours, theirs = tree.pack_sequence_as(s, marked), keras.tree.pack_sequence_as(s, marked)
    assert type(ours) is type(theirs) and tree.flatten(ours) == keras.tree.flatten(theirs) == marked
    if isinstance(s, dict):
        assert list(ours) == list(s)  # the structure's own key order (Keras's documented pack_sequence_as)
    assert _same(tree.lists_to_tuples(s), keras.tree.lists_to_tuples(s))


def test_map_structure_and_up_to_match_keras(keras):
    a = {"b": (1, 2), "a": [3, {"d": 4, "c": 5}]}
    b = {"a": [30, {"c": 50, "d": 40}], "b": (10, 20)}
    ours = tree.map_structure(lambda x, y: x + y, a, b)
    assert ours == keras.tree.map_structure(lambda x, y: x + y, a, b) == \
        {"b": (11, 22), "a": [33, {"d": 44, "c": 55}]}
    assert tree.map_structure(lambda v: v * 2, Point(1, 2)) == Point(2, 4)
    assert tree.map_structure(lambda v: 0, [None, 1], none_is_leaf=False) == \
        keras.tree.map_structure(lambda v: 0, [None, 1], none_is_leaf=False) == [None, 0]
    shallow = [None, [None, None]]
    deep = [[1, 1], [[2, 2], 3]]
    assert tree.map_structure_up_to(shallow, str, deep) == keras.tree.map_structure_up_to(shallow, str, deep)
    shapes = {"x": (None, 3), "y": [(2, 4), (5,)]}
    assert tree.map_shape_structure(len, shapes) == keras.tree.map_shape_structure(len, shapes)


@pytest.mark.parametrize("a, b", [([1, 2], (1, 2)), ([1, [2]], [1, 2]), ({"a": 1}, {"b": 1}), ([1], [1, 2]),
                                  (Point(1, 2), (1, 2))])
def test_mismatched_structures_raise_as_in_keras(keras, a, b):
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure(a, b)
    with pytest.raises(ValueError, match="same nested structure"):
        tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        tree.map_structure(lambda x, y: x, a, b)


def test_assert_same_paths_and_pack_count():
    tree.assert_same_paths([1, (2, 3)], (4, [5, 6]))  # node types aside
    with pytest.raises(ValueError, match="don't have the same paths"):
        tree.assert_same_paths({"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="has 3 leaves, but flat_sequence has 2"):
        tree.pack_sequence_as([1, (2, 3)], [7, 8])
    with pytest.raises(ValueError, match="at least one structure"):
        tree.map_structure(len)


def test_traverse_matches_keras(keras):
    s = [(1, 2), [3], {"a": 4}]
    for top_down in (True, False):
        seen, kseen = [], []
        assert tree.traverse(seen.append, s, top_down=top_down) == keras.tree.traverse(kseen.append, s,
                                                                                      top_down=top_down)
        assert seen == kseen
    cut = tree.traverse(lambda x: tree.MAP_TO_NONE if x == (1, 2) else None, s)
    assert cut == [None, [3], {"a": 4}]


def test_registered_node_class():
    @tree.register_tree_node_class
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def tree_flatten(self):
            return (self.a, self.b), "aux"

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    p = tree.map_structure(lambda v: v + 1, Pair(1, [2, 3]))
    assert isinstance(p, Pair) and p.a == 2 and p.b == [3, 4]
    assert tree.flatten({"k": Pair(5, 6)}) == [5, 6]
    with pytest.raises(TypeError, match="tree_flatten"):
        tree.register_tree_node_class(int)


def test_dicts_sort_at_every_level():
    """Keras's documented order (optree's, JAX's and TensorFlow's): a dict's values by sorted key at
    every depth. (Keras 3's torch backend sorts only the outermost dict: a quirk, not followed.)"""
    s = {"b": (1, 2), "a": [3, {"d": 4, "c": None}]}
    assert tree.flatten(s) == [3, None, 4, 1, 2]
    assert [p for p, _ in tree.flatten_with_path(s)] == [("a", 0), ("a", 1, "c"), ("a", 1, "d"), ("b", 0), ("b", 1)]
    packed = tree.pack_sequence_as(s, range(5))
    assert packed == {"b": (3, 4), "a": [0, {"d": 2, "c": 1}]} and list(packed) == ["b", "a"]
