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

#include <cstdint>

namespace tracenas {

// q [B, g*n, S, h], k and v [B, g, S, h] -> [B, g*n, S, h]; differentiable in q, k and v.
at::Tensor blockwise_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      double scale, std::int64_t block);

}  // namespace tracenas
