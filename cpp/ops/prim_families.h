// The primitive families' factories (prim.cpp's make_prim asks each in turn). Each returns null
// for a kind that is not its family's.
#pragma once
#include <memory>
#include <string>

#include "ops/prim.h"

namespace bc {

std::unique_ptr<PrimOp> make_elementwise_prim(const std::string& kind, const Attrs& a, int n_in);  // prim_elementwise.cpp
std::unique_ptr<PrimOp> make_reduce_prim(const std::string& kind, const Attrs& a, int n_in);       // prim_reduce.cpp
std::unique_ptr<PrimOp> make_matmul_prim(const std::string& kind, const Attrs& a, int n_in);       // prim_matmul.cpp
std::unique_ptr<PrimOp> make_layout_prim(const std::string& kind, const Attrs& a, int n_in, int n_out);  // prim_layout.cpp
std::unique_ptr<PrimOp> make_const_prim(const std::string& kind, const Attrs& a, int n_in);        // prim_const.cpp
std::unique_ptr<PrimOp> make_attention_prim(const std::string& kind, const Attrs& a, int n_in);    // prim_attention.cpp
std::unique_ptr<PrimOp> make_loss_prim(const std::string& kind, const Attrs& a, int n_in);         // prim_loss.cpp

}  // namespace bc
