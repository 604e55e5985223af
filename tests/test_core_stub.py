"""python/bigcore/_core.pyi (written by .ci/core-stub) names what the native module has: every
class, method, property and function, with the binding's parameter names."""

import ast
import inspect
import os
import re

import bigcore
from bigcore._native import _core

STUB = os.path.join(os.path.dirname(bigcore.__file__), "_core.pyi")


def _params(f):
    """Parameter names from pybind11's signature line, e.g. 'f(self: X, a: int, b: int = 0) -> None'."""
    first = (f.__doc__ or "").strip().split("\n")[0]
    m = re.match(r"\w+\((.*)\) -> ", first)
    assert m, f"no signature in {first!r}"
    return [p.split(":")[0].strip() for p in re.split(r", (?=\w+:)", m.group(1)) if p]


def _stub_defs():
    with open(STUB) as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = [a.arg for a in node.args.args]
        elif isinstance(node, ast.ClassDef):
            members = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members[item.name] = [a.arg for a in item.args.args]
                elif isinstance(item, ast.AnnAssign):
                    members[item.target.id] = None
            out[node.name] = members
    return out


def _module_defs():
    out = {}
    for name in (n for n in dir(_core) if not n.startswith("__")):
        obj = getattr(_core, name)
        if inspect.isclass(obj):
            members = {}
            for m, raw in vars(obj).items():
                if m.startswith("_") and (m != "__init__" or not re.match(r"\w+\(", raw.__doc__ or "")):
                    continue  # a class without a constructor binding keeps Python's default __init__
                members[m] = None if isinstance(raw, property) and raw.fset is not None else (
                    ["self"] if isinstance(raw, property) else _params(getattr(obj, m)))
            out[name] = members
        else:
            out[name] = _params(obj)
    return out


def _flat(defs):
    """{'f': params, 'Cls.m': params, ...}"""
    out = {}
    for name, v in defs.items():
        if isinstance(v, dict):
            out[name] = "class"
            out.update({f"{name}.{m}": p for m, p in v.items()})
        else:
            out[name] = v
    return out


def test_stub_matches_the_module():
    stub, module = _flat(_stub_defs()), _flat(_module_defs())
    assert sorted(stub) == sorted(module), "run .ci/core-stub after changing a binding"
    for name, want in module.items():
        assert stub[name] == want, f"{name}: the stub says {stub[name]}, the module {want}; run .ci/core-stub"
