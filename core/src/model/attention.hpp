// Causal attention whose memory grows linearly with the sequence.
//
// softmax(q k^T * scale + causal mask) v computed over blocks of `block`
// query positions against blocks of `block` key positions with an online
// softmax (running row maximum m and sum l; Milakov & Gimelshein, "Online
// normalizer calculation for softmax", 2018): a block's scores s update
//   m' = max(m, rowmax(s)),  l' = l * exp(m - m') + rowsum(exp(s - m')),
//   acc' = acc * exp(m - m') + exp(s - m') v,
// and the output is acc / l. Only the output and the row log-sum-exp
// lse = m + log(l) are kept for the backward, which recomputes each block's
// probabilities p = exp(s - lse) (FlashAttention-2, Dao 2023):
//   D = rowsum(dO * O),  dV += p^T dO,  dS = p * (dO V^T - D),
//   dQ += dS K * scale,  dK += dS^T Q * scale.
// Grouped-query attention without repeating K and V: the n query heads of a
// KV group are stacked as n * block rows against that group's keys.
// Computed in float32 (float64 for float64 inputs) and returned in the input
// dtype. Blocks wholly above the diagonal are skipped.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>

namespace tracenas {

// q [B, g*n, S, h], k and v [B, g, S, h] -> [B, g*n, S, h]; differentiable in q, k and v.
at::Tensor blockwise_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      double scale, std::int64_t block);

// The same attention with one [S, S] probability tensor per head, kept for the
// backward (float32; float64 for float64 inputs): q k^T in the input dtype
// with the scale on q, plus `bias` (causal_bias), a softmax in place, then
// the product with v in the input dtype. The n query heads of a KV group are
// one [n*S, h] matrix against that group's K and V. The backward uses the
// same identities as the blockwise one (D = rowsum(dO * O)), so no softmax
// backward over [S, S] runs apart from dS = P * (dP - D).
at::Tensor plain_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  double scale, const at::Tensor& bias);

// The additive causal mask [S, S] of plain attention: 0 on and below the
// diagonal, -inf above; float32 (float64 for a float64 model).
at::Tensor causal_bias(std::int64_t S, at::ScalarType model_dtype, const at::Device& device);

}  // namespace tracenas
