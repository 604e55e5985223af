"""The compression pipeline example keeps its promises (skipped without Fashion-MNIST): 80% pruned
and fine-tuned loses at most 1 point of test accuracy against the float model, int8 at most 0.5
point more, and the pruned int8 file is at least 10x smaller than the float32 one."""

import os

import pytest

FASHION = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION) and not os.environ.get("BIGCORE_DATA"),
                                   reason="needs Fashion-MNIST: apt-get install dataset-fashion-mnist")


@needs_fashion
def test_compress_pipeline_accuracy_and_size(tmp_path, capsys):
    from bigcore.examples import compress

    r = compress.main(["--verbose", "0", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "pruned+int8" in out and "smaller by" in out
    float_acc, pruned_acc, q_acc = (r[k]["accuracy"] for k in ("float32", "pruned", "pruned+int8"))
    assert float_acc >= 0.86
    assert pruned_acc >= float_acc - 0.01
    assert q_acc >= pruned_acc - 0.005
    assert r["pruned+int8"]["ratio"] >= 10.0
    for name in ("float32", "pruned", "pruned+int8"):
        assert os.path.getsize(r[name]["path"]) == r[name]["bytes"]
