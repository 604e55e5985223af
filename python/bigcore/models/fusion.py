"""Fusion at lowering: recorded primitives that form a pattern the project has a fused op for.

    matmul(x, W) [+ b] [-> relu | sigmoid | tanh | softmax(last axis)]   -> the Dense op
        (W a 2-D weight, b a 1-D weight, x with a batch axis; one GEMM with the bias and the
        activation in its epilogue, and its gradient likewise)
    softmax(last axis) | sigmoid whose result leaves the graph (a model output)  -> the
        activation op, whose `fusable_act` lets a cross-entropy loss fuse its gradient with it

A tensor the pattern swallows must have no other reader (nor leave the graph). Everything else
lowers one primitive per node.
"""

from bigcore import activations
from bigcore.layers import dims

_ACTS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax"}


class Plan:
    def __init__(self):
        self.skip = set()   # id(node) lowered as part of another
        self.fused = {}     # id(node) -> the fused op that replaces it (lowered in its place)


class _Dense:
    def __init__(self, x, W, b, act, outputs):
        self.x, self.W, self.b, self.act, self.outputs = x, W, b, act, outputs

    def lower(self, low):
        out = low.tensor(self.outputs[0])
        K, N = self.W.shape
        b = low.param(self.b) if self.b is not None else -1
        low.native.add_dense(low.id(self.x), out, low.param(self.W), b, K, N, activations.native_id(self.act))
        return [out]


class _Activation:
    def __init__(self, x, act, outputs):
        self.x, self.act, self.outputs = x, act, outputs

    def lower(self, low):
        out = low.tensor(self.outputs[0])
        low.native.add_activation(low.id(self.x), out, activations.native_id(self.act), self.x.shape[-1])
        return [out]


def _kind(node):
    return getattr(node.layer, "kind", None) if getattr(node.layer, "config_module", None) == "bigcore.ops" else None


def _weight(t, ndim):
    """The Weight t reads, when t is a WeightRead of a float weight of this rank."""
    layer = t.node.layer if t.node is not None else None
    w = getattr(layer, "weight", None)
    if w is None or _kind(t.node) != "weight" or len(w.shape) != ndim or str(w.dtype) != "float32":
        return None
    return w


def _last_axis(node):
    axis = node.layer.attrs.get("axis", -1)
    return axis in (-1, len(node.inputs[0].shape) - 1)


def plan(nodes, protected):
    """The fusions among `nodes`; protected: ids of tensors read outside them."""
    p = Plan()
    uses = {}
    producer = {}
    for node in nodes:
        for t in node.parents:
            uses.setdefault(id(t), []).append(node)
        for t in node.outputs:
            producer[id(t)] = node

    def sole_user(t):
        """The one node reading t when nothing else (nor the outside) does."""
        if id(t) in protected:
            return None
        u = uses.get(id(t), [])
        return u[0] if len(u) == 1 else None

    for node in nodes:
        if id(node) in p.skip or _kind(node) != "matmul":
            continue
        x, wt = node.inputs
        W = _weight(wt, 2)
        if W is None or not x._batched or len(x.shape) < 2 or x.shape[-1] != W.shape[0] or dims.is_dim(x._dims[-1]):
            continue
        chain, last, b = [node], node, None
        user = sole_user(last.outputs[0])
        if user is not None and _kind(user) == "add":
            other = user.inputs[1] if user.inputs[0] is last.outputs[0] else user.inputs[0]
            bw = _weight(other, 1) if other is not last.outputs[0] else None
            if bw is not None and bw.shape[0] == W.shape[1]:
                b, last = bw, user
                chain.append(user)
                user = sole_user(last.outputs[0])
        act = "linear"
        if user is not None and _kind(user) in _ACTS and (_kind(user) != "softmax" or _last_axis(user)) \
                and len(user.inputs) == 1:  # a softmax with a mask input is no epilogue
            act, last = _ACTS[_kind(user)], user
            chain.append(user)
        for n in chain[1:]:
            p.skip.add(id(n))
        p.fused[id(node)] = _Dense(x, W, b, act, last.outputs)
        for t in [wt] + ([other] if b is not None else []):  # weight reads only the fused op needed
            readers = uses.get(id(t), [])
            if id(t) in producer and id(t) not in protected and \
                    all(id(r) in p.skip or id(r) == id(node) for r in readers):
                p.skip.add(id(producer[id(t)]))
    for node in nodes:
        kind = _kind(node)
        if id(node) in p.skip or id(node) in p.fused or kind not in ("softmax", "sigmoid") or len(node.inputs) > 1:
            continue
        y = node.outputs[0]
        x = node.inputs[0]
        if id(y) in protected and x._batched and not dims.is_dim(x._dims[-1] if x._dims else 1) \
                and (kind != "softmax" or _last_axis(node)) and x._dims:
            p.fused[id(node)] = _Activation(x, kind, node.outputs)
    return p
