// Program methods for the everyday Keras layers that are not convolutions: index maps (RepeatVector,
// Permute, padding, cropping, upsampling), Masking, regularizing noise, Layer/Group/Unit
// normalization, and TimeDistributed (the ops of a sub-program folded over time).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "ops/adaptive_pool.h"
#include "ops/fold.h"
#include "ops/gather.h"
#include "ops/group_norm.h"
#include "ops/noise.h"
#include "ops/scan.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

void bind_layer_ops(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Program>>(m.attr("Program"));
  cls.def("add_gather", [](Program& p, int in, int out, std::vector<int32_t> index) {
        if (index.size() != p.per_sample(out)) throw py::value_error("gather: one index per output value of a sample");
        p.add_op(std::make_unique<bc::GatherOp>(in, out, std::move(index), p.per_sample(in)));
      }, py::arg("x"), py::arg("out"), py::arg("index"),
      "out[b, i] = x[b, index[i]] (index -1: 0); backward adds in i order.");
  cls.def("add_adaptive_pool", [](Program& p, int in, int out, std::vector<int> in_sizes, std::vector<int> out_sizes,
                                  int C, bool channels_first, bool max) {
        if (in_sizes.empty() || in_sizes.size() > 3 || in_sizes.size() != out_sizes.size())
          throw py::value_error("adaptive pooling: 1 to 3 spatial sizes, as many in as out");
        bc::AdaptivePoolGeom g;
        const size_t lead = 3 - in_sizes.size();
        for (size_t a = 0; a < in_sizes.size(); ++a) {
          if (in_sizes[a] <= 0 || out_sizes[a] <= 0) throw py::value_error("adaptive pooling: sizes must be positive");
          g.in[lead + a] = in_sizes[a], g.out[lead + a] = out_sizes[a];
        }
        g.C = C, g.channels_first = channels_first;
        const size_t n_in = static_cast<size_t>(C) * g.in[0] * g.in[1] * g.in[2];
        const size_t n_out = static_cast<size_t>(C) * g.out[0] * g.out[1] * g.out[2];
        if (C <= 0 || p.per_sample(in) != n_in || p.per_sample(out) != n_out)
          throw py::value_error("adaptive pooling: the tensors' sizes differ from the geometry");
        p.add_op(std::make_unique<bc::AdaptivePoolOp>(in, out, g, max));
      }, py::arg("x"), py::arg("out"), py::arg("in_sizes"), py::arg("out_sizes"), py::arg("C"),
      py::arg("channels_first"), py::arg("max"),
      "Adaptive average (or max) pooling over 1 to 3 spatial axes: bin i of n inputs to m outputs is "
      "[floor(i*n/m), ceil((i+1)*n/m)).");
  cls.def("add_masking", [](Program& p, int in, int out, int mask_out, int width, float mask_value) {
        if (width <= 0 || p.per_sample(in) % width || p.per_sample(mask_out) != p.per_sample(in) / width)
          throw py::value_error("Masking: the mask needs one value per position of `width` values");
        p.add_op(std::make_unique<bc::MaskingOp>(in, out, mask_out, width, mask_value));
      }, py::arg("x"), py::arg("out"), py::arg("mask_out"), py::arg("width"), py::arg("mask_value"));
  cls.def("add_noise", [](Program& p, int in, int out, int kind, float amount, int channels, uint64_t stream) {
        if (kind == bc::NOISE_SPATIAL_DROPOUT && (channels <= 0 || p.per_sample(in) % channels))
          throw py::value_error("SpatialDropout: the channels must divide the input");
        p.add_op(std::make_unique<bc::NoiseOp>(in, out, kind, amount, channels, stream));
      }, py::arg("x"), py::arg("out"), py::arg("kind"), py::arg("amount"), py::arg("channels"), py::arg("stream"),
      "kind: 0 GaussianNoise (amount: stddev), 1 GaussianDropout, 2 AlphaDropout, 3 SpatialDropout (rate).");
  cls.def("add_group_norm", [](Program& p, int in, int out, int C, int groups, long gamma, long beta, float epsilon) {
        if (C <= 0 || p.per_sample(in) % C) throw py::value_error("normalization: C must divide the input");
        p.add_op(std::make_unique<bc::GroupNormOp>(in, out, C, groups, gamma, beta, epsilon));
      }, py::arg("x"), py::arg("out"), py::arg("C"), py::arg("groups"), py::arg("gamma"), py::arg("beta"),
      py::arg("epsilon"), "groups 0: LayerNormalization over each position's C values; else GroupNormalization.");
  cls.def("add_unit_norm", [](Program& p, int in, int out, int width) {
        if (width <= 0 || p.per_sample(in) % width) throw py::value_error("UnitNormalization: bad width");
        p.add_op(std::make_unique<bc::UnitNormOp>(in, out, width));
      }, py::arg("x"), py::arg("out"), py::arg("width"));
  cls.def("add_time_distributed", [](Program& p, Program& sub, int in, int out, int in_local, int out_local,
                                     int T) {
        if (&p == &sub) throw py::value_error("TimeDistributed: the inner ops need their own program");
        if (in_local < 0 || in_local >= sub.n_tensors() || out_local < 0 || out_local >= sub.n_tensors())
          throw py::value_error("TimeDistributed: unknown inner tensor");
        if (T < 0 || (T > 0 && (p.per_sample(in) != T * sub.per_sample(in_local) ||
                                p.per_sample(out) != T * sub.per_sample(out_local))))
          throw py::value_error("TimeDistributed: the outer tensors must hold T inner steps");
        auto ops = sub.take_ops();
        p.add_op(std::make_unique<bc::FoldOp>(std::move(ops), sub.take_tensors(), in_local, out_local, in, out, T));
      }, py::arg("sub"), py::arg("x"), py::arg("out"), py::arg("in_local"), py::arg("out_local"), py::arg("T"),
      "Moves the ops and tensors of `sub` (built over its own per-timestep tensors, parameters in this program's "
      "arena) into one op over the folded time axis of x -> out (T = 0: the timesteps are read from x each call).");
  cls.def("add_scan", [](Program& p, Program& sub, int x, std::vector<int> states, int mask, std::vector<int> outs,
                         int x_local, std::vector<int> state_in_local, int out_local,
                         std::vector<int> state_out_local, bool return_sequences, bool go_backwards,
                         bool mask_output, bool zero_output_for_mask) {
        if (&p == &sub) throw py::value_error("RNN scan: the step's ops need their own program");
        bc::ScanConfig cfg;
        cfg.x_local = x_local;
        cfg.out_local = out_local;
        cfg.state_in_local = std::move(state_in_local);
        cfg.state_out_local = std::move(state_out_local);
        cfg.return_sequences = return_sequences;
        cfg.go_backwards = go_backwards;
        cfg.has_mask = mask >= 0;
        cfg.mask_output = mask_output;
        cfg.zero_output_for_mask = zero_output_for_mask;
        auto ops = sub.take_ops();
        p.add_op(std::make_unique<bc::ScanOp>(std::move(ops), sub.take_tensors(), std::move(cfg), x,
                                              std::move(states), mask, std::move(outs)));
      }, py::arg("sub"), py::arg("x"), py::arg("states"), py::arg("mask"), py::arg("outs"), py::arg("x_local"),
      py::arg("state_in_local"), py::arg("out_local"), py::arg("state_out_local"), py::arg("return_sequences"),
      py::arg("go_backwards"), py::arg("mask_output"), py::arg("zero_output_for_mask"),
      "Moves the ops and tensors of `sub` (one step of a cell, over its own tensors) into one op that runs the "
      "step over the timesteps of x (read each call): outs = [y, final states...], mask -1 for none.");
}
