// The cols path of the sparse kernels (sparse.h), one body for avx2.cpp and avx512.cpp. Each
// includes this inside its anonymous namespace after defining a vector struct `Vec` (W float/int32
// lanes: zero, splat, fmadd, store, izero, isplat, madd_add, q8_out), so the per-ISA copies never
// merge at link time and both run the same operations in the same order.
#pragma once

// The int16 value and the next one as an int32 (little-endian: the value in the low half).
inline int32_t load32(const int16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Lanes [c, c + P) of a slice side by side (P independent chains: FMA latency), V vectors =
// V * Vec::W rows of one column each.
template <class Vec, int V, int P>
void f32_cols_v(const SpTile& t) {
  const SellPattern& p = *t.p;
  const float* xT = static_cast<const float*>(t.x);
  alignas(64) float outT[16][V * Vec::W];
  for (int s = t.s0; s < t.s1; ++s) {
    const size_t base = static_cast<size_t>(p.ptr[s]) * 16;
    const int32_t* len = p.len.data() + 16 * s;  // lanes past N have length 0
    for (int c = 0; c < 16; c += P) {
      typename Vec::F a[P][V];
      int L = len[c];
      for (int l = 0; l < P; ++l) {
        L = std::min(L, len[c + l]);
        for (int v = 0; v < V; ++v) a[l][v] = Vec::zero();
      }
      for (int j = 0; j < L; ++j) {
        const size_t e = base + static_cast<size_t>(j) * 16 + c;
        for (int l = 0; l < P; ++l) {
          const float* xr = xT + static_cast<size_t>(p.idx[e + l]) * t.ld;
          const typename Vec::F w = Vec::splat(t.vf[e + l]);
          for (int v = 0; v < V; ++v) a[l][v] = Vec::fmadd(w, xr + Vec::W * v, a[l][v]);
        }
      }
      for (int l = 0; l < P; ++l) {
        for (int j = L; j < len[c + l]; ++j) {
          const size_t e = base + static_cast<size_t>(j) * 16 + c + l;
          const float* xr = xT + static_cast<size_t>(p.idx[e]) * t.ld;
          const typename Vec::F w = Vec::splat(t.vf[e]);
          for (int v = 0; v < V; ++v) a[l][v] = Vec::fmadd(w, xr + Vec::W * v, a[l][v]);
        }
        for (int v = 0; v < V; ++v) Vec::store(outT[c + l] + Vec::W * v, a[l][v]);
      }
    }
    store_slice(t.y, p.N, 16 * s, t.M, outT[0], V * Vec::W);
  }
}

// As f32_cols_v, with exact int32 sums and the int8 epilogue per column.
template <class Vec, int V, int P>
void q8_cols_v(const SpTile& t) {
  const SellPattern& p = *t.p;
  const int32_t* xT = static_cast<const int32_t*>(t.x);
  alignas(64) float outT[16][V * Vec::W];
  for (int s = t.s0; s < t.s1; ++s) {
    const size_t base = static_cast<size_t>(p.ptr[s]) * 16;
    const int32_t* len = p.len.data() + 16 * s;
    for (int c = 0; c < 16; c += P) {
      typename Vec::I a[P][V];
      int L = len[c];
      for (int l = 0; l < P; ++l) {
        L = std::min(L, len[c + l]);
        for (int v = 0; v < V; ++v) a[l][v] = Vec::izero();
      }
      for (int j = 0; j < L; ++j) {
        const size_t e = base + static_cast<size_t>(j) * 16 + c;
        for (int l = 0; l < P; ++l) {
          const int32_t* xr = xT + static_cast<size_t>(p.idx[e + l]) * t.ld;
          const typename Vec::I w = Vec::isplat(load32(t.vq + e + l));
          for (int v = 0; v < V; ++v) a[l][v] = Vec::madd_add(a[l][v], xr + Vec::W * v, w);
        }
      }
      for (int l = 0; l < P; ++l) {
        for (int j = L; j < len[c + l]; ++j) {
          const size_t e = base + static_cast<size_t>(j) * 16 + c + l;
          const int32_t* xr = xT + static_cast<size_t>(p.idx[e]) * t.ld;
          const typename Vec::I w = Vec::isplat(load32(t.vq + e));
          for (int v = 0; v < V; ++v) a[l][v] = Vec::madd_add(a[l][v], xr + Vec::W * v, w);
        }
        const int n = 16 * s + c + l;
        if (n >= p.N) continue;
        for (int v = 0; v < V; ++v)
          Vec::q8_out(outT[c + l] + Vec::W * v, a[l][v], t.x_scale + Vec::W * v, t.M - Vec::W * v, t.w_scale[n],
                      t.bias ? t.bias[n] : 0.0f, t.bias != nullptr, t.relu);
      }
    }
    store_slice(t.y, p.N, 16 * s, t.M, outT[0], V * Vec::W);
  }
}
