"""cpp/ reads bottom-up: core < isa < kernels < runtime < ops < bindings. A file includes only its
own folder and the folders below it; ops include runtime/op.h, never the program; kernel
families are peers (a family may use another's header); inside a family every ISA's file has the
same name, and those names are the ones CMakeLists.txt gives ISA flags to."""

import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CPP = os.path.join(ROOT, "cpp")
LAYERS = ["core", "isa", "kernels", "runtime", "ops", "bindings"]
ISA_FILES = {"ref.cpp", "avx2.cpp", "avx512.cpp", "avxvnni.cpp", "avx512vnni.cpp"}

pytestmark = pytest.mark.skipif(not os.path.isdir(CPP), reason="needs the source tree (cpp/)")


def _sources():
    for folder, _, files in os.walk(CPP):
        for f in files:
            if f.endswith((".h", ".cpp")):
                path = os.path.join(folder, f)
                yield os.path.relpath(path, CPP).replace(os.sep, "/"), path


def _includes(path):
    with open(path) as f:
        return re.findall(r'^#include "([^"]+)"', f.read(), re.MULTILINE)


def test_every_file_sits_in_a_layer():
    stray = [rel for rel, _ in _sources() if rel.split("/")[0] not in LAYERS or "/" not in rel]
    assert not stray, f"files outside the layer folders {LAYERS}: {stray}"


def test_includes_point_down():
    bad = []
    for rel, path in _sources():
        own = LAYERS.index(rel.split("/")[0])
        for inc in _includes(path):
            top = inc.split("/")[0]
            if top not in LAYERS:
                continue  # a third-party header (cblas.h)
            if LAYERS.index(top) > own:
                bad.append(f"{rel} includes {inc}")
            if rel.startswith("ops/") and inc == "runtime/program.h":
                bad.append(f"{rel} includes {inc} (ops see runtime/op.h only)")
    assert not bad, "\n".join(bad)


def test_includes_name_existing_files():
    missing = [f"{rel}: {inc}" for rel, path in _sources() for inc in _includes(path)
               if inc.split("/")[0] in LAYERS and not os.path.isfile(os.path.join(CPP, inc))]
    assert not missing, missing


def test_isa_files_are_named_alike_and_flagged_by_name():
    kernels = os.path.join(CPP, "kernels")
    simd = set()
    for family in os.listdir(kernels):
        for f in os.listdir(os.path.join(kernels, family)):
            if re.fullmatch(r"(avx|sse|neon|sve)\w*\.cpp", f):
                simd.add(f)
                assert f in ISA_FILES, f"kernels/{family}/{f}: ISA files are named {sorted(ISA_FILES)}"
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        cmake = f.read()
    for f in simd:
        assert f"BIGCORE_ISA_FLAGS_{f[:-4]} " in cmake, f"no ISA flags rule for {f} in CMakeLists.txt"
    assert "-march=native" not in cmake and "set_source_files_properties(cpp/" not in cmake


def test_binding_files_do_not_call_each_other():
    """Only module.cpp calls the bind_* functions, so the binding files form no call circle."""
    bindings = os.path.join(CPP, "bindings")
    for f in os.listdir(bindings):
        if f == "module.cpp" or not f.endswith(".cpp"):
            continue
        with open(os.path.join(bindings, f)) as src:
            text = src.read()
        calls = [c for c in re.findall(r"\b(bind_\w+)\(", text) if not re.search(rf"void {c}\(py", text)]
        assert not calls, f"bindings/{f} calls {calls}: shared helpers belong in arrays.h or batch.h"
