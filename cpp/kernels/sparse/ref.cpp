// Sparse Dense kernels, portable: plain loops that define every result (sparse.h has the layout);
// ref uses std::fmaf, so the SIMD paths (avx2.cpp, avx512.cpp) give the same bits.
#include <cmath>

#include "kernels/sparse/sparse.h"

namespace bc {
namespace {

inline int32_t x16(int32_t v) { return static_cast<int16_t>(v & 0xFFFF); }  // the int8 x encoding

// rows path: per row, per slice, 16 chains over the slice's steps (padding included: neutral).
void f32_rows_ref(const SpTile& t) {
  const SellPattern& p = *t.p;
  const float* x = static_cast<const float*>(t.x);
  for (int m = 0; m < t.M; ++m) {
    const float* xr = x + static_cast<size_t>(m) * t.ld;
    for (int s = t.s0; s < t.s1; ++s) {
      float acc[16] = {0};
      for (int j = p.ptr[s]; j < p.ptr[s + 1]; ++j)
        for (int c = 0; c < 16; ++c) {
          const size_t e = static_cast<size_t>(j) * 16 + c;
          acc[c] = std::fmaf(t.vf[e], xr[p.idx[e]], acc[c]);
        }
      for (int c = 0; c < 16 && 16 * s + c < p.N; ++c) t.y[static_cast<size_t>(m) * p.N + 16 * s + c] = acc[c];
    }
  }
}

// cols path: per lane, the real entries only, against xT (K + 1, ld).
void f32_cols_ref(const SpTile& t) {
  const SellPattern& p = *t.p;
  const float* xT = static_cast<const float*>(t.x);
  for (int s = t.s0; s < t.s1; ++s)
    for (int c = 0; c < 16 && 16 * s + c < p.N; ++c) {
      const int n = 16 * s + c, L = p.len[n];
      for (int m = 0; m < t.M; ++m) {
        float acc = 0.0f;
        for (int j = 0; j < L; ++j) {
          const size_t e = (static_cast<size_t>(p.ptr[s]) + j) * 16 + c;
          acc = std::fmaf(t.vf[e], xT[static_cast<size_t>(p.idx[e]) * t.ld + m], acc);
        }
        t.y[static_cast<size_t>(m) * p.N + n] = acc;
      }
    }
}

void q8_rows_ref(const SpTile& t) {
  const SellPattern& p = *t.p;
  const int32_t* x = static_cast<const int32_t*>(t.x);
  for (int m = 0; m < t.M; ++m) {
    const int32_t* xr = x + static_cast<size_t>(m) * t.ld;
    for (int s = t.s0; s < t.s1; ++s) {
      int32_t acc[16] = {0};
      for (int j = p.ptr[s]; j < p.ptr[s + 1]; ++j)
        for (int c = 0; c < 16; ++c) {
          const size_t e = static_cast<size_t>(j) * 16 + c;
          acc[c] += int32_t{t.vq[e]} * x16(xr[p.idx[e]]);
        }
      for (int c = 0; c < 16 && 16 * s + c < p.N; ++c) {
        const int n = 16 * s + c;
        t.y[static_cast<size_t>(m) * p.N + n] = q8_out(acc[c], t.x_scale[m], t.w_scale[n], t.bias, n, t.relu);
      }
    }
  }
}

void q8_cols_ref(const SpTile& t) {
  const SellPattern& p = *t.p;
  const int32_t* xT = static_cast<const int32_t*>(t.x);
  for (int s = t.s0; s < t.s1; ++s)
    for (int c = 0; c < 16 && 16 * s + c < p.N; ++c) {
      const int n = 16 * s + c, L = p.len[n];
      for (int m = 0; m < t.M; ++m) {
        int32_t acc = 0;
        for (int j = 0; j < L; ++j) {
          const size_t e = (static_cast<size_t>(p.ptr[s]) + j) * 16 + c;
          acc += int32_t{t.vq[e]} * x16(xT[static_cast<size_t>(p.idx[e]) * t.ld + m]);
        }
        t.y[static_cast<size_t>(m) * p.N + n] = q8_out(acc, t.x_scale[m], t.w_scale[n], t.bias, n, t.relu);
      }
    }
}

}  // namespace

void fill_sparse_ref(SparseKernels& k) {
  k.name = "ref";
  k.f32_rows = f32_rows_ref;
  k.f32_cols = f32_cols_ref;
  k.q8_rows = q8_rows_ref;
  k.q8_cols = q8_cols_ref;
}

}  // namespace bc
