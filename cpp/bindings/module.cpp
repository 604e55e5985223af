// The bigcore._core module: each binding file adds its part. Bindings only translate: numpy
// buffers checked (arrays.h), plain C++ called with the GIL released, results out.
#include "bindings/bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "bigcore native core: kernels and the program runtime";
  bind_config(m);
  bind_kernels(m);
  bind_infer(m);
  bind_program(m);
  bind_distributed(m);  // methods of the Program class bind_program made
  bind_param_home(m);   // weight cells, and Program.link_params (after bind_program)
  bind_prune(m);
  bind_qrecurrent(m);
  bind_sparse(m);
  bind_shapes(m);  // methods of the Program class bind_program made
  bind_prim(m);
  bind_attention(m);
  bind_decode(m);
  bind_conv(m);
  bind_layer_ops(m);
  bind_image_ops(m);
  bind_traced(m);
}
