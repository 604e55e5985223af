// Binding for the quantized LSTM/GRU op (ops/qrecurrent.h): checks the int8 and scale arrays,
// builds the op into a program.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/arrays.h"
#include "bindings/batch.h"
#include "bindings/bindings.h"
#include "ops/qrecurrent.h"
#include "runtime/program.h"

namespace py = pybind11;

void bind_qrecurrent(py::module_& m) {
  m.def("add_qrecurrent", [](bc::Program& p, const std::string& kind, int x, int mask, const std::vector<int>& outs,
                             const py::array& wq, const py::array& w_scale, const py::array& rq,
                             const py::array& r_scale, long b, int D, int U, int T, int act, int ract,
                             bool return_sequences, bool return_state, bool go_backwards, bool zero_output_for_mask,
                             bool output_in_input_order, float x_scale, const std::vector<int>& initial_state) {
    if (kind != "lstm" && kind != "gru") throw py::value_error("unknown recurrent kind '" + kind + "'");
    if (D <= 0 || U <= 0 || T < 0) throw py::value_error("add_qrecurrent: D and U must be positive, T >= 0");
    check_timesteps(p, "add_qrecurrent", x, D, T);
    const py::ssize_t GU = static_cast<py::ssize_t>(kind == "lstm" ? 4 : 3) * U;
    const int8_t* w = arrays::shaped<int8_t>(wq, "add_qrecurrent: wq", {D, GU});
    const int8_t* r = arrays::shaped<int8_t>(rq, "add_qrecurrent: rq", {U, GU});
    const float* ws = arrays::shaped<float>(w_scale, "add_qrecurrent: w_scale", {GU});
    const float* rs = arrays::shaped<float>(r_scale, "add_qrecurrent: r_scale", {GU});
    bc::RnnConfig c;
    c.D = D; c.U = U; c.T = T; c.act = act; c.ract = ract;
    c.return_sequences = return_sequences; c.return_state = return_state; c.go_backwards = go_backwards;
    c.zero_output_for_mask = zero_output_for_mask; c.output_in_input_order = output_in_input_order;
    c.has_mask = mask >= 0;
    const auto& s0 = initial_state;
    if (kind == "lstm") p.add_op(std::make_unique<bc::QLstmOp>(c, x, mask, s0, outs, w, ws, r, rs, b, x_scale));
    else p.add_op(std::make_unique<bc::QGruOp>(c, x, mask, s0, outs, w, ws, r, rs, b, x_scale));
  }, py::arg("program"), py::arg("kind"), py::arg("x"), py::arg("mask"), py::arg("outs"), py::arg("wq"),
     py::arg("w_scale"), py::arg("rq"), py::arg("r_scale"), py::arg("b"), py::arg("D"), py::arg("U"), py::arg("T"),
     py::arg("act"), py::arg("ract"), py::arg("return_sequences"), py::arg("return_state"), py::arg("go_backwards"),
     py::arg("zero_output_for_mask"), py::arg("output_in_input_order"), py::arg("x_scale"),
     py::arg("initial_state") = std::vector<int>(),
     "Adds an int8 LSTM or GRU op (inference only) to the program; initial_state: the h_0 (and "
     "c_0) tensors, or none for zeros.");
}
