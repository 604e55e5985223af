// Program methods for the convolution-family ops (ConvNets and the everyday Keras layers):
// convolutions, pooling, batch normalization and the activation layers that take numbers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "ops/batchnorm.h"
#include "ops/conv.h"
#include "ops/conv_transpose.h"
#include "ops/pointwise.h"
#include "ops/pool.h"
#include "ops/qconv.h"
#include "ops/tensor_kernel.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

namespace {

// geom: (H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL)
bc::ConvGeom make_geom(const std::vector<int>& v) {
  if (v.size() != 13) throw py::value_error("a window geometry has 13 numbers, got " + std::to_string(v.size()));
  bc::ConvGeom g;
  g.H = v[0]; g.W = v[1]; g.C = v[2]; g.OH = v[3]; g.OW = v[4]; g.KH = v[5]; g.KW = v[6];
  g.SH = v[7]; g.SW = v[8]; g.DH = v[9]; g.DW = v[10]; g.PT = v[11]; g.PL = v[12];
  return g;
}

// geom: (D, H, W, C, OD, OH, OW, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL)
bc::VolGeom make_vol_geom(const std::vector<int>& v) {
  if (v.size() != 19) throw py::value_error("a volume window geometry has 19 numbers, got " + std::to_string(v.size()));
  bc::VolGeom g;
  int* f[] = {&g.D, &g.H, &g.W, &g.C, &g.OD, &g.OH, &g.OW, &g.KD, &g.KH, &g.KW,
              &g.SD, &g.SH, &g.SW, &g.DD, &g.DH, &g.DW, &g.PF, &g.PT, &g.PL};
  for (size_t i = 0; i < v.size(); ++i) *f[i] = v[i];
  return g;
}

void check_sizes(const Program& p, int in, int out, size_t in_size, size_t out_size, const char* what) {
  if (p.per_sample(in) != in_size || p.per_sample(out) != out_size)
    throw py::value_error(std::string(what) + ": the tensors' sizes do not match the geometry");
}

// A 1-D/2-D window op over run-time sizes (var_pad >= 0): its sizes and padding from the tensors at
// their probe shapes (the op derives them again per call); out_channels: the output's last axis.
void set_run_time_length(const Program& p, int in, int out, int out_channels, int var_pad, bc::ConvGeom& g,
                         const char* what) {
  if (var_pad < 0) return;
  try {
    bc::set_window_sizes(g, p.probe_shape(in), p.probe_shape(out), p.per_sample(in), p.per_sample(out),
                         out_channels, var_pad);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(std::string(what) + ": " + e.what());
  }
}

}  // namespace

void bind_conv(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Program>>(m.attr("Program"));
  cls.def("add_conv", [](Program& p, int in, int out, size_t w, long b, const std::vector<int>& geom, int F,
                         int groups, int act, int var_pad) {
        bc::ConvGeom g = make_geom(geom);
        set_run_time_length(p, in, out, F, var_pad, g, "Conv");
        check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * F, "Conv");
        p.add_op(std::make_unique<bc::ConvOp>(in, out, w, b, g, F, groups, act, var_pad));
      }, py::arg("x"), py::arg("out"), py::arg("w"), py::arg("b"), py::arg("geom"), py::arg("F"), py::arg("groups"),
      py::arg("act"), py::arg("var_pad") = -1,
      "Conv1D/Conv2D: geom (H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL). var_pad >= 0: a Conv1D over a run-time "
      "length (0 valid, 1 same, 2 causal), or a Conv2D over run-time image sizes (0 valid, 1 same; the input "
      "tensor's shape gives H and W), its sizes and padding derived per call.");
  cls.def("add_conv3d", [](Program& p, int in, int out, size_t w, long b, const std::vector<int>& geom, int F,
                           int groups, int act, int var_pad) {
        bc::VolGeom g = make_vol_geom(geom);
        if (var_pad >= 0) {  // the depth at the tensors' probe sizes (the op derives it again per call)
          const size_t plane = static_cast<size_t>(g.H) * g.W * g.C, out_plane = static_cast<size_t>(g.OH) * g.OW * F;
          if (var_pad > 1 || plane == 0 || out_plane == 0 || p.per_sample(in) % plane || p.per_sample(out) % out_plane)
            throw py::value_error("Conv3D: the tensors' sizes are not whole planes of depth");
          bc::set_conv3d_depth(g, static_cast<long>(p.per_sample(in) / plane),
                               static_cast<long>(p.per_sample(out) / out_plane), var_pad);
        }
        check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * F, "Conv3D");
        p.add_op(std::make_unique<bc::Conv3DOp>(in, out, w, b, g, F, groups, act, var_pad));
      }, py::arg("x"), py::arg("out"), py::arg("w"), py::arg("b"), py::arg("geom"), py::arg("F"), py::arg("groups"),
      py::arg("act"), py::arg("var_pad") = -1,
      "Conv3D: geom (D, H, W, C, OD, OH, OW, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL). var_pad >= 0: a "
      "run-time depth (0 valid, 1 same), its D, OD and PF derived per call.");
  cls.def("add_conv_transpose", [](Program& p, int in, int out, size_t w, long b, const std::vector<int>& geom,
                                   int F, int act, bool run_time) {
        bc::ConvGeom g = make_geom(geom);
        if (run_time) {
          try {
            bc::set_transpose_sizes(g, p.probe_shape(in), p.probe_shape(out));
          } catch (const std::invalid_argument& e) {
            throw py::value_error(e.what());
          }
        }
        check_sizes(p, in, out, static_cast<size_t>(g.out_positions()) * F, g.in_size(), "ConvTranspose");
        p.add_op(std::make_unique<bc::ConvTransposeOp>(in, out, w, b, g, F, act, run_time));
      }, py::arg("x"), py::arg("out"), py::arg("w"), py::arg("b"), py::arg("geom"), py::arg("F"), py::arg("act"),
      py::arg("run_time") = false,
      "Conv1DTranspose/Conv2DTranspose: geom of the forward convolution it is the adjoint of (its input is the "
      "output here), F: input channels. run_time: run-time sizes (the tensors' shapes give them per call).");
  cls.def("add_conv3d_transpose", [](Program& p, int in, int out, size_t w, long b, const std::vector<int>& geom,
                                     int F, int act) {
        bc::VolGeom g = make_vol_geom(geom);
        check_sizes(p, in, out, static_cast<size_t>(g.out_positions()) * F, g.in_size(), "Conv3DTranspose");
        p.add_op(std::make_unique<bc::Conv3DTransposeOp>(in, out, w, b, g, F, act));
      }, py::arg("x"), py::arg("out"), py::arg("w"), py::arg("b"), py::arg("geom"), py::arg("F"), py::arg("act"),
      "Conv3DTranspose: geom (as add_conv3d's) of the forward Conv3D it is the adjoint of, F: input channels.");
  cls.def("add_tensor_kernel_conv", [](Program& p, const std::string& kind, int in, int kernel, int out,
                                       const std::vector<int>& geom, int n, int groups) {
        if (p.is_weight(in)) throw py::value_error("add_tensor_kernel_conv: the input must not be a weight");
        if (p.batched(kernel)) throw py::value_error("add_tensor_kernel_conv: the kernel must have no batch axis");
        std::unique_ptr<bc::Op> op;
        size_t need = 0;
        if (kind == "conv" || kind == "depthwise" || kind == "conv_transpose") {
          bc::ConvGeom g = make_geom(geom);
          const size_t taps = static_cast<size_t>(g.KH) * g.KW;
          if (kind == "conv") {
            check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * n, "conv");
            if (groups <= 0 || g.C % groups || n % groups) throw py::value_error("conv: bad groups");
            need = taps * (g.C / groups) * n;
            op = std::make_unique<bc::ConvOp>(in, out, 0, -1, g, n, groups, 0);
          } else if (kind == "depthwise") {
            check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * g.C * n, "depthwise_conv");
            need = taps * g.C * n;
            op = std::make_unique<bc::DepthwiseConvOp>(in, out, 0, -1, g, n, 0);
          } else {
            check_sizes(p, in, out, static_cast<size_t>(g.out_positions()) * n, g.in_size(), "conv_transpose");
            need = taps * g.C * n;
            op = std::make_unique<bc::ConvTransposeOp>(in, out, 0, -1, g, n, 0);
          }
        } else if (kind == "conv3d" || kind == "conv3d_transpose") {
          bc::VolGeom g = make_vol_geom(geom);
          if (kind == "conv3d") {
            check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * n, "conv");
            if (groups <= 0 || g.C % groups || n % groups) throw py::value_error("conv: bad groups");
            need = static_cast<size_t>(g.taps()) * (g.C / groups) * n;
            op = std::make_unique<bc::Conv3DOp>(in, out, 0, -1, g, n, groups, 0);
          } else {
            check_sizes(p, in, out, static_cast<size_t>(g.out_positions()) * n, g.in_size(), "conv_transpose");
            need = static_cast<size_t>(g.taps()) * g.C * n;
            op = std::make_unique<bc::Conv3DTransposeOp>(in, out, 0, -1, g, n, 0);
          }
        } else {
          throw py::value_error("add_tensor_kernel_conv: unknown kind " + kind);
        }
        if (p.per_sample(kernel) != need)
          throw py::value_error(kind + ": the kernel's size does not match the geometry");
        p.add_op(std::make_unique<bc::TensorKernelOp>(std::move(op), kernel, need));
      }, py::arg("kind"), py::arg("x"), py::arg("kernel"), py::arg("out"), py::arg("geom"), py::arg("n"),
      py::arg("groups") = 1,
      "keras.ops' convolutions with the kernel a (batch-less) tensor: kind 'conv' / 'conv3d' (n: filters), "
      "'depthwise' (n: depth multiplier), 'conv_transpose' / 'conv3d_transpose' (n: input channels; geom of the "
      "forward convolution); geom as add_conv's or add_conv3d's. No bias, linear.");
  cls.def("add_depthwise_conv", [](Program& p, int in, int out, size_t w, long b, const std::vector<int>& geom,
                                   int M, int act, int var_pad) {
        bc::ConvGeom g = make_geom(geom);
        set_run_time_length(p, in, out, g.C * M, var_pad, g, "DepthwiseConv");
        check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * g.C * M, "DepthwiseConv");
        p.add_op(std::make_unique<bc::DepthwiseConvOp>(in, out, w, b, g, M, act, var_pad));
      }, py::arg("x"), py::arg("out"), py::arg("w"), py::arg("b"), py::arg("geom"), py::arg("M"), py::arg("act"),
      py::arg("var_pad") = -1, "var_pad >= 0: run-time sizes (1-D length, 2-D height and width) as add_conv's.");
  cls.def("add_qconv", [](Program& p, int in, int out, const py::array& wq, const py::array& scale, long b,
                          const std::vector<int>& geom, int act, float x_scale) {
        bc::ConvGeom g = make_geom(geom);
        const long Kc = static_cast<long>(g.KH) * g.KW * g.C;
        const int8_t* w = arrays::checked<int8_t>(wq, "add_qconv: wq", 2);
        if (wq.shape(0) != Kc) throw py::value_error("add_qconv: wq must have KH * KW * C rows");
        const int F = arrays::dim(wq, 1);
        const float* s = arrays::shaped<float>(scale, "add_qconv: scale", {wq.shape(1)});
        check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * F, "QuantizedConv");
        p.add_op(std::make_unique<bc::QConvOp>(in, out, w, s, b, g, F, act, x_scale));
      }, py::arg("x"), py::arg("out"), py::arg("wq"), py::arg("scale"), py::arg("b"), py::arg("geom"),
      py::arg("act"), py::arg("x_scale"), "int8 Conv1D/Conv2D (groups 1): wq (KH*KW*C, F), scale (F).");
  cls.def("add_pool", [](Program& p, int in, int out, const std::vector<int>& geom, int mode, int var_pad) {
        bc::ConvGeom g = make_geom(geom);
        set_run_time_length(p, in, out, g.C, var_pad, g, "Pooling");
        check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * g.C, "Pooling");
        p.add_op(std::make_unique<bc::PoolOp>(in, out, g, mode, var_pad));
      }, py::arg("x"), py::arg("out"), py::arg("geom"), py::arg("mode"), py::arg("var_pad") = -1,
      "mode: 0 max, 1 average. var_pad >= 0: 1-D pooling over a run-time length, 2-D over run-time image sizes "
      "(0 valid, 1 same).");
  cls.def("add_pool3d", [](Program& p, int in, int out, const std::vector<int>& geom, int mode) {
        bc::VolGeom g = make_vol_geom(geom);
        check_sizes(p, in, out, g.in_size(), static_cast<size_t>(g.out_positions()) * g.C, "Pooling3D");
        p.add_op(std::make_unique<bc::Pool3DOp>(in, out, g, mode));
      }, py::arg("x"), py::arg("out"), py::arg("geom"), py::arg("mode"),
      "MaxPooling3D/AveragePooling3D: geom as add_conv3d's (dilation 1); mode: 0 max, 1 average.");
  cls.def("add_global_pool", [](Program& p, int in, int out, int mask, int P, int C, int mode) {
        if (P <= 0 && C > 0 && p.per_sample(in) % C == 0) P = static_cast<int>(p.per_sample(in) / C);  // run-time sizes
        check_sizes(p, in, out, static_cast<size_t>(P) * C, C, "GlobalPooling");
        if (mask >= 0 && p.per_sample(mask) != static_cast<size_t>(P))
          throw py::value_error("GlobalPooling: the mask needs one value per position");
        p.add_op(std::make_unique<bc::GlobalPoolOp>(in, out, mask, P, C, mode));
      }, py::arg("x"), py::arg("out"), py::arg("mask"), py::arg("P"), py::arg("C"), py::arg("mode"),
      "P: positions per sample; 0 for run-time sizes (the op reads them per call).");
  cls.def("add_batchnorm", [](Program& p, int in, int out, int mask, int C, long gamma, long beta, size_t mm,
                              size_t mv, float momentum, float epsilon, bool frozen, bool relu) {
        if (C <= 0 || p.per_sample(in) % C || p.per_sample(out) != p.per_sample(in))
          throw py::value_error("BatchNormalization: the channel count does not divide the input");
        if (mask >= 0 && p.per_sample(mask) != p.per_sample(in) / C)
          throw py::value_error("BatchNormalization: the mask needs one value per position");
        bc::BatchNormArgs a;
        a.C = C; a.gamma = gamma; a.beta = beta; a.moving_mean = mm; a.moving_var = mv;
        a.momentum = momentum; a.epsilon = epsilon; a.frozen = frozen; a.relu = relu;
        p.add_op(std::make_unique<bc::BatchNormOp>(in, out, mask, a));
      }, py::arg("x"), py::arg("out"), py::arg("mask"), py::arg("C"), py::arg("gamma"), py::arg("beta"),
      py::arg("moving_mean"), py::arg("moving_var"), py::arg("momentum"), py::arg("epsilon"), py::arg("frozen"),
      py::arg("relu") = false, "relu: out is max(y, 0), a ReLU fused after the normalization.");
  cls.def("add_relu", [](Program& p, int in, int out, float slope, float max_value, float threshold) {
        p.add_op(std::make_unique<bc::ReluOp>(in, out, slope, max_value, threshold));
      }, py::arg("x"), py::arg("out"), py::arg("negative_slope"), py::arg("max_value"), py::arg("threshold"),
      "Keras relu(x, negative_slope, max_value (< 0: none), threshold).");
  cls.def("add_elu", [](Program& p, int in, int out, float alpha) {
        p.add_op(std::make_unique<bc::EluOp>(in, out, alpha));
      }, py::arg("x"), py::arg("out"), py::arg("alpha"));
  cls.def("add_prelu", [](Program& p, int in, int out, size_t alpha, std::vector<int32_t> index, int n_alpha) {
        if (index.size() != p.per_sample(in)) throw py::value_error("PReLU: one alpha index per value of a sample");
        p.add_op(std::make_unique<bc::PReluOp>(in, out, alpha, std::move(index), n_alpha));
      }, py::arg("x"), py::arg("out"), py::arg("alpha"), py::arg("index"), py::arg("n_alpha"));
  cls.def("add_softmax", [](Program& p, int in, int out, int mask, int outer, int n, int inner) {
        // outer or n 0: a run-time length, checked by the op per call
        if (outer > 0 && n > 0 && p.per_sample(in) != static_cast<size_t>(outer) * n * inner)
          throw py::value_error("Softmax: outer * n * inner must be the input's size per sample");
        if (outer > 0 && n > 0 && mask >= 0 && p.per_sample(mask) != p.per_sample(in))
          throw py::value_error("Softmax: the mask must have the input's shape");
        p.add_op(std::make_unique<bc::SoftmaxOp>(in, out, mask, outer, n, inner));
      }, py::arg("x"), py::arg("out"), py::arg("mask"), py::arg("outer"), py::arg("n"), py::arg("inner"));
}
