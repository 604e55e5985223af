// One bind_* function per binding file; module.cpp calls each once. Binding files call none of
// each other's functions (program-level helpers they share sit in batch.h, arrays.h and
// metric_params.h).
#pragma once
#include <pybind11/pybind11.h>

void bind_config(pybind11::module_& m);       // config.cpp: threads, CPU paths, BLAS
void bind_program(pybind11::module_& m);      // program.cpp: OptimArgs, Program (ops, steps)
void bind_distributed(pybind11::module_& m);  // distributed.cpp: Program's split step (after bind_program)
void bind_param_home(pybind11::module_& m);   // param_home.cpp: weight cells, Program.link_params
void bind_kernels(pybind11::module_& m);      // kernels.cpp: kernels on numpy arrays, QLinear
void bind_infer(pybind11::module_& m);        // infer.cpp: the small-M GEMM
void bind_prune(pybind11::module_& m);        // prune.cpp: masks
void bind_qrecurrent(pybind11::module_& m);   // qrecurrent.cpp: int8 LSTM/GRU ops
void bind_sparse(pybind11::module_& m);       // sparse.cpp: sparse kernels and ops
void bind_shapes(pybind11::module_& m);       // shapes.cpp: Program's run-time shapes (after bind_program)
void bind_prim(pybind11::module_& m);         // prim.cpp: primitives, Program.add_prim (after bind_program)
void bind_attention(pybind11::module_& m);    // attention.cpp: attention / norm ops and kernels (after bind_program)
void bind_decode(pybind11::module_& m);       // decode.cpp: Decoder (token-by-token inference, KV cache)
void bind_conv(pybind11::module_& m);         // conv.cpp: Program's conv, pooling, norm ops (after bind_program)
void bind_layer_ops(pybind11::module_& m);    // layer_ops.cpp: index maps, noise, norms, TimeDistributed (after bind_program)
void bind_image_ops(pybind11::module_& m);    // image_ops.cpp: image preprocessing and augmentation (after bind_program)
void bind_traced(pybind11::module_& m);       // traced.cpp: loss terms, op modes (after bind_program)
