// The primitives' hot loops (elementwise maths, reductions, softmax): one table per ISA path
// (ref.cpp, avx2.cpp, avx512.cpp compile body.h with their own flags), following the float
// family's path (kernels/float: set_cpu_isa switches both). Loops are written for the
// auto-vectorizer with a fixed operation order and FMA contraction off, so every path gives the
// same bits. Flat signatures, shapes in the comments; the ops (cpp/ops/prim_*.cpp) cut the work
// into independent pieces for threads and walk broadcast strides around these inner loops.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bc {

// Elementwise unary kinds. a, b: the kind's numbers (elu/leaky_relu: alpha; clip: lo, hi;
// gelu: a != 0 for the tanh approximation).
enum UnaryKind : int {
  U_IDENTITY, U_NEG, U_ABS, U_SQUARE, U_SQRT, U_RSQRT, U_EXP, U_EXPM1, U_LOG, U_LOG1P, U_SIGN, U_SIN,
  U_COS, U_RECIPROCAL, U_FLOOR, U_CEIL, U_ROUND, U_RELU, U_RELU6, U_GELU, U_SILU, U_SIGMOID, U_TANH,
  U_SOFTPLUS, U_SOFTSIGN, U_ELU, U_SELU, U_LEAKY_RELU, U_HARD_SIGMOID, U_HARD_SILU, U_LOG_SIGMOID, U_ERF,
  U_CLIP, U_TRUNC, U_NOT_ZERO, U_LOGICAL_NOT, U_COUNT
};

// Elementwise binary kinds (NumPy broadcasting in the ops).
enum BinaryKind : int {
  B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_FLOOR_DIV, B_MOD, B_EQ, B_NE, B_GT, B_GE, B_LT, B_LE,
  B_AND, B_OR, B_XOR, B_COUNT
};

// Reductions of x (O, R, I) over R into y (O, I). aux (O, I): the mean for R_CSUMSQ, the max for
// R_SUMEXP; unused otherwise.
enum ReduceKind : int {
  R_SUM, R_SUMSQ, R_SUMABS, R_MAX, R_MIN, R_MAXABS, R_MINABS, R_PROD, R_ANY, R_ALL, R_CSUMSQ, R_SUMEXP
};

// Inner-row stride of an operand: 1 (a row of n values) or 0 (one value, broadcast).
struct PrimKernels {
  const char* name;
  // y (n) = f(x (n)).
  void (*unary)(int kind, float* y, const float* x, size_t n, float a, float b);
  // dx (n) (+)= g * f'(x), with y = f(x) (n) at hand; accumulate adds.
  void (*unary_backward)(int kind, float* dx, const float* g, const float* x, const float* y, size_t n,
                         float a, float b, bool accumulate);
  // y (n) = a op b, a and b with inner strides sa, sb (0 or 1).
  void (*binary)(int kind, float* y, const float* a, int sa, const float* b, int sb, size_t n);
  // da (n) (+)= g * d(a op b)/da, db likewise (either may be null; both full rows of n). y: the
  // forward result.
  void (*binary_backward)(int kind, float* da, bool acc_a, float* db, bool acc_b, const float* g,
                          const float* a, int sa, const float* b, int sb, const float* y, size_t n);
  // y (O, I) = reduce over r of x (O, R, I); each output in a fixed order (16 lanes along a
  // contiguous row when I == 1, r = 0..R-1 otherwise).
  void (*reduce)(int kind, float* y, const float* x, const float* aux, size_t O, size_t R, size_t I);
  // Softmax (log: log_softmax) over R of x (O, R, I) into y; mask (O, R, I) or null: 0 adds -1e9.
  void (*softmax)(float* y, const float* x, const float* mask, size_t O, size_t R, size_t I, bool log);
  // dx (+)= softmax backward: y * (g - sum_r g y), or for log: g - exp(y) * sum_r g.
  void (*softmax_backward)(float* dx, const float* g, const float* y, size_t O, size_t R, size_t I, bool log,
                           bool accumulate);
};

void fill_prim_kernels_ref(PrimKernels& k);
void fill_prim_kernels_avx2(PrimKernels& k);
void fill_prim_kernels_avx512(PrimKernels& k);

const PrimKernels& prim_kernels();  // the path the float family runs

}  // namespace bc
