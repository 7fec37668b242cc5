#include "model/attention.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <limits>

#include "base/torch_compat.hpp"
#include "model/softmax.hpp"
#include "tracenas/error.hpp"

namespace tracenas {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

at::ScalarType accumulation_type(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// The rows of query block [s0, s0 + sq) of every head of each KV group,
// x5 [B, g, n, S, h] -> [B, g, n*sq, h] (a copy).
at::Tensor query_rows(const at::Tensor& x5, int64_t s0, int64_t sq) {
  return x5.narrow(3, s0, sq).reshape({x5.size(0), x5.size(1), -1, x5.size(4)});
}

// True where the key position lies after the query position, [sq, tk];
// undefined when every key of the block precedes every query.
at::Tensor causal_mask(int64_t s0, int64_t sq, int64_t t0, int64_t tk, const at::Device& device) {
  if (t0 + tk - 1 <= s0) return {};
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor query_pos = at::arange(s0, s0 + sq, opts).unsqueeze(1);  // [sq, 1]
  at::Tensor key_pos = at::arange(t0, t0 + tk, opts).unsqueeze(0);    // [1, tk]
  return key_pos > query_pos;
}

// Masked scores of a query block qb [B, g, n*sq, h] against a key block
// kb [B, g, tk, h]: [B, g, n*sq, tk].
at::Tensor block_scores(const at::Tensor& qb, const at::Tensor& kb, double scale,
                        const at::Tensor& mask, int64_t n) {
  at::Tensor s = at::matmul(qb, kb.transpose(-2, -1)) * scale;
  if (!mask.defined()) return s;
  const std::vector<int64_t> sizes = s.sizes().vec();
  return s
      .reshape({sizes[0], sizes[1], n, -1, sizes[3]})  // [B, g, n, sq, tk]
      .masked_fill(mask, kMinusInf)
      .reshape(sizes);
}

class BlockwiseAttention : public torch::autograd::Function<BlockwiseAttention> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, double scale, int64_t block) {
    const auto f = accumulation_type(q);
    const int64_t B = q.size(0), H = q.size(1), S = q.size(2), h = q.size(3), g = k.size(1);
    const int64_t n = H / g;
    const auto opts = q.options().dtype(f);
    at::Tensor q5 = q.to(f).reshape({B, g, n, S, h});
    at::Tensor kf = k.to(f);  // [B, g, S, h]
    at::Tensor vf = v.to(f);
    at::Tensor out = at::empty({B, g, n, S, h}, opts);
    at::Tensor lse = at::empty({B, g, n, S}, opts);  // row log-sum-exp of the scores
    for (int64_t s0 = 0; s0 < S; s0 += block) {
      const int64_t sq = std::min(block, S - s0);
      at::Tensor qb = query_rows(q5, s0, sq);                    // [B, g, n*sq, h]
      at::Tensor m = at::full({B, g, n * sq}, kMinusInf, opts);  // running row maximum
      at::Tensor l = at::zeros({B, g, n * sq}, opts);            // running row sum
      at::Tensor acc = at::zeros({B, g, n * sq, h}, opts);
      // Key blocks up to the diagonal; the first holds key 0, so every row's maximum is finite.
      for (int64_t t0 = 0; t0 < s0 + sq; t0 += block) {
        const int64_t tk = std::min(block, s0 + sq - t0);
        at::Tensor s = block_scores(qb, kf.narrow(2, t0, tk), scale,
                                    causal_mask(s0, sq, t0, tk, q.device()), n);
        at::Tensor m_new = at::maximum(m, std::get<0>(s.max(-1)));
        at::Tensor p = at::exp(s - m_new.unsqueeze(-1));  // [B, g, n*sq, tk]
        at::Tensor correction = at::exp(m - m_new);
        l = l * correction + p.sum(-1);
        acc = acc * correction.unsqueeze(-1) + at::matmul(p, vf.narrow(2, t0, tk));
        m = m_new;
      }
      out.narrow(3, s0, sq).copy_((acc / l.unsqueeze(-1)).view({B, g, n, sq, h}));
      lse.narrow(3, s0, sq).copy_((m + at::log(l)).view({B, g, n, sq}));
    }
    at::Tensor result = out.view({B, H, S, h}).to(q.scalar_type());
    ctx->save_for_backward({q, k, v, result, lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["block"] = block;
    return result;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& q = saved[0];
    const at::Tensor& k = saved[1];
    const at::Tensor& v = saved[2];
    const at::Tensor& o = saved[3];
    const at::Tensor& lse = saved[4];  // [B, g, n, S]
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t block = ctx->saved_data["block"].toInt();
    const auto f = accumulation_type(q);
    const int64_t B = q.size(0), H = q.size(1), S = q.size(2), h = q.size(3), g = k.size(1);
    const int64_t n = H / g;
    const auto opts = q.options().dtype(f);
    at::Tensor q5 = q.to(f).reshape({B, g, n, S, h});
    at::Tensor do5 = grads[0].to(f).reshape({B, g, n, S, h});
    at::Tensor D = (do5 * o.to(f).reshape({B, g, n, S, h})).sum(-1);  // [B, g, n, S]
    at::Tensor kf = k.to(f);
    at::Tensor vf = v.to(f);
    at::Tensor dq = at::empty({B, g, n, S, h}, opts);
    at::Tensor dk = at::zeros({B, g, S, h}, opts);
    at::Tensor dv = at::zeros({B, g, S, h}, opts);
    for (int64_t s0 = 0; s0 < S; s0 += block) {
      const int64_t sq = std::min(block, S - s0);
      at::Tensor qb = query_rows(q5, s0, sq);    // [B, g, n*sq, h]
      at::Tensor dob = query_rows(do5, s0, sq);  // [B, g, n*sq, h]
      at::Tensor lse_b = lse.narrow(3, s0, sq).reshape({B, g, n * sq, 1});
      at::Tensor d_b = D.narrow(3, s0, sq).reshape({B, g, n * sq, 1});
      at::Tensor dqb = at::zeros({B, g, n * sq, h}, opts);
      for (int64_t t0 = 0; t0 < s0 + sq; t0 += block) {
        const int64_t tk = std::min(block, s0 + sq - t0);
        at::Tensor kb = kf.narrow(2, t0, tk);  // [B, g, tk, h]
        at::Tensor vb = vf.narrow(2, t0, tk);
        at::Tensor p = at::exp(
            block_scores(qb, kb, scale, causal_mask(s0, sq, t0, tk, q.device()), n) - lse_b);
        dv.narrow(2, t0, tk).add_(at::matmul(p.transpose(-2, -1), dob));
        at::Tensor ds = p * (at::matmul(dob, vb.transpose(-2, -1)) - d_b);  // [B, g, n*sq, tk]
        dqb.add_(at::matmul(ds, kb), scale);
        dk.narrow(2, t0, tk).add_(at::matmul(ds.transpose(-2, -1), qb), scale);
      }
      dq.narrow(3, s0, sq).copy_(dqb.view({B, g, n, sq, h}));
    }
    return {dq.view({B, H, S, h}).to(q.scalar_type()), dk.to(k.scalar_type()),
            dv.to(v.scalar_type()), at::Tensor(), at::Tensor()};
  }
};

// The dtype of the matmuls: autocast's when it is on (q, k and v may then
// differ: RoPE in float32 promotes q and k but not v), else q's.
at::ScalarType matmul_dtype(const at::Tensor& q) {
  return compat::autocast_enabled(q.is_cuda()) ? compat::autocast_dtype(q.is_cuda())
                                               : q.scalar_type();
}

class PlainAttention : public torch::autograd::Function<PlainAttention> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, double scale, const at::Tensor& bias) {
    const auto dtype = matmul_dtype(q_in);
    const at::Tensor q = q_in.to(dtype), k = k_in.to(dtype), v = v_in.to(dtype);
    const int64_t B = q.size(0), H = q.size(1), S = q.size(2), h = q.size(3), g = k.size(1);
    const int64_t n = H / g;
    at::Tensor qs = (q * scale).reshape({B, g, n * S, h});
    // [B, g, n*S, S] in the accumulation dtype; the mask of each query head added in place.
    at::Tensor p = at::matmul(qs, k.transpose(-2, -1)).to(accumulation_type(q));
    p.add_(n > 1 ? bias.repeat({n, 1}) : bias);
    softmax_lastdim_(p);
    at::Tensor o = at::matmul(p.to(q.scalar_type()), v);  // [B, g, n*S, h]
    ctx->save_for_backward({qs, k, v, p, o});
    ctx->saved_data["scale"] = scale;
    return o.view({B, H, S, h});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& qs = saved[0];  // q * scale [B, g, n*S, h]
    const at::Tensor& k = saved[1];
    const at::Tensor& v = saved[2];
    const at::Tensor& p = saved[3];  // probabilities [B, g, n*S, S], accumulation dtype
    const at::Tensor& o = saved[4];  // [B, g, n*S, h]
    const double scale = ctx->saved_data["scale"].toDouble();
    const auto dtype = qs.scalar_type(), f = p.scalar_type();
    at::Tensor d_o = grads[0].to(dtype).reshape(o.sizes());
    // D = rowsum(dO * O) = rowsum(dP * P): the softmax backward without a second [S, S] pass.
    at::Tensor D = (d_o.to(f) * o.to(f)).sum(-1, /*keepdim=*/true);  // [B, g, n*S, 1]
    at::Tensor dv = at::matmul(p.to(dtype).transpose(-2, -1), d_o);  // [B, g, S, h]
    at::Tensor ds = at::matmul(d_o, v.transpose(-2, -1)).to(f);      // dP [B, g, n*S, S]
    ds.sub_(D).mul_(p);                                              // dS
    const at::Tensor ds_m = ds.to(dtype);
    at::Tensor dq = at::matmul(ds_m, k).mul_(scale);         // [B, g, n*S, h]
    at::Tensor dk = at::matmul(ds_m.transpose(-2, -1), qs);  // [B, g, S, h]
    return {dq.view(grads[0].sizes()), dk, dv, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor plain_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  double scale, const at::Tensor& bias) {
  if (k.size(1) == 0 || q.size(1) % k.size(1) != 0) {
    throw Error("attention: " + std::to_string(q.size(1)) + " query heads do not split into " +
                std::to_string(k.size(1)) + " KV groups");
  }
  return PlainAttention::apply(q, k, v, scale, bias);
}

at::Tensor causal_bias(std::int64_t S, at::ScalarType model_dtype, const at::Device& device) {
  return at::full({S, S}, kMinusInf,
                  at::TensorOptions()
                      .dtype(model_dtype == at::kDouble ? at::kDouble : at::kFloat)
                      .device(device))
      .triu(1);
}

at::Tensor blockwise_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      double scale, std::int64_t block) {
  if (block <= 0) throw Error("blockwise attention: block size must be positive");
  if (k.size(1) == 0 || q.size(1) % k.size(1) != 0) {
    throw Error("blockwise attention: " + std::to_string(q.size(1)) +
                " query heads do not split into " + std::to_string(k.size(1)) + " KV groups");
  }
  return BlockwiseAttention::apply(q, k, v, scale, block);
}

}  // namespace tracenas
