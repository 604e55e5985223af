// Program methods for Keras's image preprocessing and augmentation layers (ops/image_*.h), and the
// per-sample image kernels on numpy arrays (tests compare them with NumPy references).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "ops/image_affine.h"
#include "ops/image_color.h"
#include "ops/image_mix.h"
#include "ops/image_resize.h"
#include "ops/image_tone.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

namespace {

void check_sizes(Program& p, int in, int out, long in_size, long out_size, const char* what) {
  if (in_size <= 0 || out_size <= 0 || static_cast<long>(p.per_sample(in)) != in_size ||
      static_cast<long>(p.per_sample(out)) != out_size)
    throw py::value_error(std::string(what) + ": the tensors do not hold the given image sizes");
}

void check_modes(int interp, int fill) {
  if (interp != bc::INTERP_BILINEAR && interp != bc::INTERP_NEAREST)
    throw py::value_error("interp must be 0 (bilinear) or 1 (nearest), got " + std::to_string(interp));
  if (fill < bc::FILL_REFLECT || fill > bc::FILL_NEAREST)
    throw py::value_error("fill must be 0 reflect, 1 wrap, 2 constant or 3 nearest, got " + std::to_string(fill));
}

// (B, H, W, C) float32 images: B, H, W, C out.
const float* images(const py::array& a, const char* what, int* s) {
  const float* p = arrays::checked<float>(a, what, 4);
  for (int i = 0; i < 4; ++i) s[i] = arrays::dim(a, i);
  return p;
}

void bind_kernels_on_arrays(py::module_& m) {
  m.def("image_affine", [](py::array x, py::array mats, int interp, int fill, float fill_value, bool backward) {
        int s[4];
        const float* px = images(x, "x", s);
        const float* pm = arrays::shaped<float>(mats, "matrices", {s[0], 6});
        check_modes(interp, fill);
        py::array_t<float> y({s[0], s[1], s[2], s[3]});
        float* py_ = y.mutable_data();
        const size_t ps = static_cast<size_t>(s[1]) * s[2] * s[3];
        py::gil_scoped_release nogil;
        for (int b = 0; b < s[0]; ++b) {
          if (backward) {
            std::fill(py_ + b * ps, py_ + (b + 1) * ps, 0.0f);
            bc::affine_sample_backward(py_ + b * ps, px + b * ps, s[1], s[2], s[3], pm + b * 6, interp, fill);
          } else {
            bc::affine_sample(px + b * ps, py_ + b * ps, s[1], s[2], s[3], pm + b * 6, interp, fill, fill_value);
          }
        }
        return y;
      }, py::arg("x"), py::arg("matrices"), py::arg("interp"), py::arg("fill"), py::arg("fill_value"),
      py::arg("backward") = false,
      "Each sample of x (B, H, W, C) through its (a0, a1, a2, b0, b1, b2) as Keras's affine_transform; "
      "backward: the transpose applied to x (then the output's gradient).");
  m.def("image_affine_matrix", [](int kind, std::vector<float> lo, std::vector<float> hi, bool same_zoom, float u0,
                                  float u1, int H, int W) {
        if (kind < bc::AFFINE_ROTATION || kind > bc::AFFINE_SHEAR || lo.size() != 2 || hi.size() != 2)
          throw py::value_error("image_affine_matrix: kind 0-3 and two (lo, hi) factors");
        std::vector<float> mat(6);
        bc::affine_matrix(kind, lo.data(), hi.data(), same_zoom, u0, u1, H, W, mat.data());
        return mat;
      }, py::arg("kind"), py::arg("lo"), py::arg("hi"), py::arg("same_zoom"), py::arg("u0"), py::arg("u1"),
      py::arg("H"), py::arg("W"), "The matrix an affine augmentation builds from uniforms u0, u1.");
  m.def("image_box_resize", [](py::array x, int OH, int OW, std::array<int, 4> box, int interp, float fill_value,
                               int H, int W, bool backward) {
        int s[4];
        const float* px = images(x, "x", s);
        check_modes(interp, bc::FILL_CONSTANT);
        if (OH <= 0 || OW <= 0 || box[2] <= 0 || box[3] <= 0) throw py::value_error("image_box_resize: empty size");
        if (backward && (s[1] != OH || s[2] != OW)) throw py::value_error("image_box_resize: dy must be (B, OH, OW, C)");
        const int IH = backward ? H : s[1], IW = backward ? W : s[2];
        const int YH = backward ? H : OH, YW = backward ? W : OW;
        py::array_t<float> y({s[0], YH, YW, s[3]});
        float* py_ = y.mutable_data();
        const size_t xs = static_cast<size_t>(s[1]) * s[2] * s[3], ys = static_cast<size_t>(YH) * YW * s[3];
        py::gil_scoped_release nogil;
        for (int b = 0; b < s[0]; ++b) {
          if (backward) {
            std::fill(py_ + b * ys, py_ + (b + 1) * ys, 0.0f);
            bc::box_resize_backward(py_ + b * ys, px + b * xs, IH, IW, s[3], OH, OW, box, interp);
          } else {
            bc::box_resize(px + b * xs, py_ + b * ys, IH, IW, s[3], OH, OW, box, interp, fill_value);
          }
        }
        return y;
      }, py::arg("x"), py::arg("OH"), py::arg("OW"), py::arg("box"), py::arg("interp"), py::arg("fill_value"),
      py::arg("H") = 0, py::arg("W") = 0, py::arg("backward") = false,
      "The box (y0, x0, bh, bw) of each sample resized to (OH, OW); backward: x is dy (B, OH, OW, C) and "
      "the result the input's gradient (B, H, W, C).");
  m.def("mixup_draws", [](uint64_t key, uint64_t row0, int B, float alpha) {
        if (B <= 0 || !(alpha > 0.0f)) throw py::value_error("mixup_draws: B and alpha must be positive");
        std::vector<int> perm;
        std::vector<float> lam;
        bc::mixup_draws(key, row0, B, alpha, perm, lam);
        return py::make_tuple(perm, lam);
      }, py::arg("key"), py::arg("row0"), py::arg("B"), py::arg("alpha"),
      "MixUp's draws for one batch: (permutation, weights).");
  m.def("image_tone", [](py::array x, int kind, std::vector<float> args, py::array q, py::object g) {
        int s[4];
        const float* px = images(x, "x", s);
        if (bc::tone_arg_count(kind) < 0 || static_cast<int>(args.size()) != bc::tone_arg_count(kind))
          throw py::value_error("image_tone: unknown kind " + std::to_string(kind) + " or wrong argument count");
        const float* pq = arrays::shaped<float>(q, "q", {s[0], 2});
        const bool backward = !g.is_none();
        const float* pg = nullptr;
        py::array ga;
        if (backward) {
          ga = g.cast<py::array>();
          pg = arrays::shaped<float>(ga, "g", {s[0], s[1], s[2], s[3]});
        }
        py::array_t<float> y({s[0], s[1], s[2], s[3]});
        float* py_ = y.mutable_data();
        py::gil_scoped_release nogil;
        if (backward)
          bc::tone_images_backward(px, pg, py_, s[0], s[1] * s[2], s[3], kind, args.data(), pq, false);
        else
          bc::tone_images(px, py_, s[0], s[1] * s[2], s[3], kind, args.data(), pq);
        return y;
      }, py::arg("x"), py::arg("kind"), py::arg("args"), py::arg("q"), py::arg("g") = py::none(),
      "A colour map (ops/image_tone.h's kinds) of each sample of x (B, H, W, C) with its 2 drawn parameters q "
      "(B, 2); with g: the input's gradient for the output's gradient g instead.");
}

}  // namespace

void bind_image_ops(py::module_& m) {
  bind_kernels_on_arrays(m);
  auto cls = py::reinterpret_borrow<py::class_<Program>>(m.attr("Program"));
  cls.def("add_random_flip", [](Program& p, int in, int out, int H, int W, int C, int mode, uint64_t stream) {
        check_sizes(p, in, out, static_cast<long>(H) * W * C, static_cast<long>(H) * W * C, "RandomFlip");
        if (mode < bc::FLIP_HORIZONTAL || mode > bc::FLIP_BOTH) throw py::value_error("RandomFlip: mode 0, 1 or 2");
        p.add_op(std::make_unique<bc::FlipOp>(in, out, H, W, C, mode, stream));
      }, py::arg("x"), py::arg("out"), py::arg("H"), py::arg("W"), py::arg("C"), py::arg("mode"), py::arg("stream"),
      "mode: 0 horizontal, 1 vertical, 2 both (one draw per sample flips both, as Keras's).");
  cls.def("add_image_affine", [](Program& p, int in, int out, int H, int W, int C, int kind, std::vector<float> lo,
                                 std::vector<float> hi, bool same_zoom, int interp, int fill, float fill_value,
                                 uint64_t stream) {
        check_sizes(p, in, out, static_cast<long>(H) * W * C, static_cast<long>(H) * W * C, "affine augmentation");
        check_modes(interp, fill);
        if (kind < bc::AFFINE_ROTATION || kind > bc::AFFINE_SHEAR || lo.size() != 2 || hi.size() != 2)
          throw py::value_error("affine augmentation: kind 0-3 and two (lo, hi) factors");
        p.add_op(std::make_unique<bc::AffineOp>(in, out, H, W, C, kind, lo, hi, same_zoom, interp, fill, fill_value,
                                                stream));
      }, py::arg("x"), py::arg("out"), py::arg("H"), py::arg("W"), py::arg("C"), py::arg("kind"), py::arg("lo"),
      py::arg("hi"), py::arg("same_zoom"), py::arg("interp"), py::arg("fill"), py::arg("fill_value"),
      py::arg("stream"), "kind: 0 RandomRotation, 1 RandomZoom, 2 RandomTranslation, 3 RandomShear.");
  cls.def("add_image_color", [](Program& p, int in, int out, int P, int C, int kind, float lower, float upper,
                                float lo, float hi, uint64_t stream) {
        check_sizes(p, in, out, static_cast<long>(P) * C, static_cast<long>(P) * C, "color augmentation");
        if (kind != bc::COLOR_CONTRAST && kind != bc::COLOR_BRIGHTNESS)
          throw py::value_error("color augmentation: kind 0 (contrast) or 1 (brightness)");
        p.add_op(std::make_unique<bc::ColorOp>(in, out, P, C, kind, lower, upper, lo, hi, stream));
      }, py::arg("x"), py::arg("out"), py::arg("P"), py::arg("C"), py::arg("kind"), py::arg("lower"),
      py::arg("upper"), py::arg("lo"), py::arg("hi"), py::arg("stream"),
      "kind: 0 RandomContrast, 1 RandomBrightness; lower, upper: the factor's range; lo, hi: value_range.");
  cls.def("add_image_tone", [](Program& p, int in, int out, int P, int C, int kind, std::vector<float> args,
                               uint64_t stream) {
        check_sizes(p, in, out, static_cast<long>(P) * C, static_cast<long>(P) * C, "colour augmentation");
        if (bc::tone_arg_count(kind) < 0 || static_cast<int>(args.size()) != bc::tone_arg_count(kind))
          throw py::value_error("colour augmentation: unknown kind " + std::to_string(kind) +
                                " or wrong argument count");
        const bool any_c = kind == bc::TONE_INVERT || kind == bc::TONE_SOLARIZE || kind == bc::TONE_POSTERIZE ||
                           kind == bc::TONE_AUTOCONTRAST;
        const bool gray_c = kind == bc::TONE_GRAYSCALE || kind == bc::TONE_DEGENERATE;
        if (!(any_c || C == 3 || (gray_c && C == 1)))
          throw py::value_error("colour augmentation: expected 3 channels (RGB), got " + std::to_string(C));
        p.add_op(std::make_unique<bc::ToneOp>(in, out, P, C, kind, args, stream));
      }, py::arg("x"), py::arg("out"), py::arg("P"), py::arg("C"), py::arg("kind"), py::arg("args"), py::arg("stream"),
      "A per-pixel colour layer (ops/image_tone.h: its kinds and arguments).");
  cls.def("add_mixup", [](Program& p, int in, int out, long n, float alpha, uint64_t stream) {
        check_sizes(p, in, out, n, n, "MixUp");
        if (!(alpha > 0.0f)) throw py::value_error("MixUp: alpha must be positive");
        p.add_op(std::make_unique<bc::MixUpOp>(in, out, n, alpha, stream));
      }, py::arg("x"), py::arg("out"), py::arg("n"), py::arg("alpha"), py::arg("stream"),
      "MixUp over the batch: n floats per sample.");
  cls.def("add_crop_resize", [](Program& p, int in, int out, int H, int W, int C, int OH, int OW, int interp,
                                float fill_value, std::array<int, 4> infer_box, std::array<int, 4> train_box,
                                bool random, uint64_t stream) {
        check_sizes(p, in, out, static_cast<long>(H) * W * C, static_cast<long>(OH) * OW * C, "image resizing");
        check_modes(interp, bc::FILL_CONSTANT);
        if (infer_box[2] <= 0 || infer_box[3] <= 0 || train_box[2] <= 0 || train_box[3] <= 0)
          throw py::value_error("image resizing: a box must not be empty");
        if (random && !(H > OH && W > OW))
          throw py::value_error("RandomCrop: a random box needs an input larger than the output");
        p.add_op(std::make_unique<bc::CropResizeOp>(in, out, H, W, C, OH, OW, interp, fill_value, infer_box,
                                                    train_box, random, stream));
      }, py::arg("x"), py::arg("out"), py::arg("H"), py::arg("W"), py::arg("C"), py::arg("OH"), py::arg("OW"),
      py::arg("interp"), py::arg("fill_value"), py::arg("infer_box"), py::arg("train_box"), py::arg("random"),
      py::arg("stream"), "Boxes (y0, x0, bh, bw) of the input resized to (OH, OW); random: RandomCrop's draw.");
}
