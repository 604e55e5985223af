// Decoder: token-by-token inference with a key/value cache (runtime/decode.h), built by
// models/generation.py from a functional model. The GIL stays held during a step: a Decoder is
// one sequence's state, and two threads stepping it at once would interleave positions.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "runtime/decode.h"

namespace py = pybind11;

namespace {

// A C-contiguous float32 (rows, cols) matrix, checked.
const float* matrix(const py::array& a, const char* what, py::ssize_t rows, py::ssize_t cols) {
  return arrays::shaped<float>(a, what, {rows, cols});
}

}  // namespace

void bind_decode(py::module_& m) {
  py::class_<bc::Decoder>(m, "Decoder")
      .def(py::init<int>(), py::arg("max_len"))
      .def("add_buffer", &bc::Decoder::add_buffer, py::arg("width"), "A one-row buffer; returns its index.")
      .def("add_token", &bc::Decoder::add_token, py::arg("out"))
      .def("add_position", &bc::Decoder::add_position, py::arg("out"))
      .def(
          "add_embedding",
          [](bc::Decoder& d, int in, int out, const py::array& table) {
            arrays::checked<float>(table, "table", 2);
            d.add_embedding(in, out, matrix(table, "table", table.shape(0), d.width(out)),
                            static_cast<int>(table.shape(0)));
          },
          py::arg("x"), py::arg("out"), py::arg("table"))
      .def("add_add", &bc::Decoder::add_add, py::arg("ins"), py::arg("out"))
      .def(
          "add_norm",
          [](bc::Decoder& d, int in, int out, const py::object& gamma, const py::object& beta, float eps, bool rms) {
            d.add_norm(in, out, arrays::optional_vector(gamma, "gamma", d.width(out)),
                       arrays::optional_vector(beta, "beta", d.width(out)), eps, rms);
          },
          py::arg("x"), py::arg("out"), py::arg("gamma"), py::arg("beta"), py::arg("eps"), py::arg("rms"))
      .def(
          "add_dense",
          [](bc::Decoder& d, int in, int out, const py::array& W, const py::object& b, int act) {
            d.add_dense(in, out, matrix(W, "W", d.width(in), d.width(out)),
                        arrays::optional_vector(b, "b", d.width(out)), act);
          },
          py::arg("x"), py::arg("out"), py::arg("W"), py::arg("b"), py::arg("act"))
      .def(
          "add_attention",
          [](bc::Decoder& d, int in, int out, const py::array& Wq, const py::object& bq, const py::array& Wk,
             const py::object& bk, const py::array& Wv, const py::object& bv, const py::array& Wo,
             const py::object& bo, int Nq, int Nkv, int H, int Hv) {
            const int D = d.width(in);
            d.add_attention(in, out, matrix(Wq, "Wq", D, Nq * H), arrays::optional_vector(bq, "bq", Nq * H),
                            matrix(Wk, "Wk", D, Nkv * H), arrays::optional_vector(bk, "bk", Nkv * H),
                            matrix(Wv, "Wv", D, Nkv * Hv), arrays::optional_vector(bv, "bv", Nkv * Hv),
                            matrix(Wo, "Wo", Nq * Hv, d.width(out)), arrays::optional_vector(bo, "bo", d.width(out)),
                            Nq, Nkv, H, Hv);
          },
          py::arg("x"), py::arg("out"), py::arg("Wq"), py::arg("bq"), py::arg("Wk"), py::arg("bk"), py::arg("Wv"),
          py::arg("bv"), py::arg("Wo"), py::arg("bo"), py::arg("Nq"), py::arg("Nkv"), py::arg("H"), py::arg("Hv"))
      .def("reset", &bc::Decoder::reset, "Forgets the cached positions.")
      .def_property_readonly("position", &bc::Decoder::position)
      .def_property_readonly("max_len", &bc::Decoder::max_len)
      .def(
          "step",
          [](bc::Decoder& d, int token, int out) {
            const float* y = d.step(token, out);
            py::array_t<float> r(d.width(out));
            std::copy(y, y + d.width(out), r.mutable_data());
            return r;
          },
          py::arg("token"), py::arg("out"), "Runs the next position with this token; a copy of buffer `out`.")
      .def(
          "feed",
          [](bc::Decoder& d, const std::vector<int>& tokens, int out) {
            for (int t : tokens) d.step(t, out);
          },
          py::arg("tokens"), py::arg("out"), "Runs the next positions with these tokens (a prompt), in one call.")
      .def(
          "sample",
          [](bc::Decoder& d, int token, int out, float temperature, int top_k, uint64_t seed, uint64_t index) {
            const float* y = d.step(token, out);
            return bc::sample_token(y, d.width(out), temperature, top_k, seed, index);
          },
          py::arg("token"), py::arg("out"), py::arg("temperature"), py::arg("top_k"), py::arg("seed"),
          py::arg("index"),
          "Runs the next position with this token and picks the next one from buffer `out` (the logits).");
  m.def(
      "sample_token",
      [](const py::array& logits, float temperature, int top_k, uint64_t seed, uint64_t index) {
        const float* p = arrays::checked<float>(logits, "logits", 1);
        return bc::sample_token(p, static_cast<int>(logits.shape(0)), temperature, top_k, seed, index);
      },
      py::arg("logits"), py::arg("temperature"), py::arg("top_k"), py::arg("seed"), py::arg("index"),
      "The token sample_token picks from these logits (Decoder.sample's rule).");
}
