// The causal-LM loss from the final hidden states, the LM head applied in
// chunks of positions (decoder.hpp, chunked_causal_lm_loss). With
// z = h W^T the logits of a position and t its target, the loss is the mean
// of logsumexp(z) - z_t; its gradient with respect to h is
// (softmax(z) - onehot(t)) W / N for each of the N predicted positions, which
// the backward recomputes chunk by chunk.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "model/softmax.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::ScalarType accumulation_type(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// hidden [B, S, d] -> the predicting positions t = 0..S-2 as rows [B*(S-1), d] (a copy).
at::Tensor predicting_rows(const at::Tensor& hidden) {
  return hidden.narrow(1, 0, hidden.size(1) - 1).reshape({-1, hidden.size(2)});
}

class ChunkedLmLoss : public torch::autograd::Function<ChunkedLmLoss> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden,
                            const at::Tensor& lm_head, const at::Tensor& tokens, int64_t chunk) {
    const auto acc = accumulation_type(hidden);
    const int64_t S = hidden.size(1);
    at::Tensor rows = predicting_rows(hidden);  // [N, d]
    at::Tensor target =
        tokens.to(hidden.device(), at::kLong).narrow(1, 1, S - 1).reshape({-1});  // [N]
    const int64_t N = rows.size(0);
    at::Tensor total = at::zeros({}, hidden.options().dtype(at::kDouble));
    for (int64_t c0 = 0; c0 < N; c0 += chunk) {
      const int64_t len = std::min(chunk, N - c0);
      at::Tensor logits = at::matmul(rows.narrow(0, c0, len), lm_head.t()).to(acc);  // [len, V]
      total += at::cross_entropy_loss(logits, target.narrow(0, c0, len), {}, at::Reduction::Sum)
                   .to(at::kDouble);
    }
    ctx->save_for_backward({hidden, lm_head, target});
    ctx->saved_data["chunk"] = chunk;
    return (total / static_cast<double>(N)).to(acc);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& hidden = saved[0];
    const at::Tensor& lm_head = saved[1];
    const at::Tensor& target = saved[2];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const auto acc = accumulation_type(hidden);
    const int64_t B = hidden.size(0), S = hidden.size(1), d = hidden.size(2);
    at::Tensor rows = predicting_rows(hidden);  // [N, d]
    const int64_t N = rows.size(0);
    const at::Tensor scale = grads[0].to(acc) / static_cast<double>(N);
    at::Tensor d_rows = at::empty({N, d}, hidden.options());
    for (int64_t c0 = 0; c0 < N; c0 += chunk) {
      const int64_t len = std::min(chunk, N - c0);
      at::Tensor logits = at::matmul(rows.narrow(0, c0, len), lm_head.t()).to(acc);  // [len, V]
      at::Tensor t = target.narrow(0, c0, len).unsqueeze(1);                         // [len, 1]
      at::Tensor& p = softmax_lastdim_(logits);
      p.scatter_(1, t, p.gather(1, t) - 1);            // softmax(z) - onehot(t)
      at::Tensor d_chunk = d_rows.narrow(0, c0, len);  // contiguous rows
      at::mm_out(d_chunk, p.mul_(scale).to(hidden.scalar_type()), lm_head);
    }
    at::Tensor d_hidden = at::zeros_like(hidden);  // the last position predicts nothing
    d_hidden.narrow(1, 0, S - 1).copy_(d_rows.view({B, S - 1, d}));
    return {d_hidden, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor chunked_causal_lm_loss(const at::Tensor& hidden, const at::Tensor& lm_head,
                                  const at::Tensor& tokens, std::int64_t chunk_tokens) {
  if (hidden.dim() != 3 || hidden.size(1) < 2) {
    throw DataError("chunked loss: hidden states must be [batch, seq >= 2, hidden]");
  }
  const int64_t chunk =
      chunk_tokens > 0 ? chunk_tokens : std::max<int64_t>(1, (int64_t{1} << 24) / lm_head.size(0));
  return ChunkedLmLoss::apply(hidden, lm_head, tokens, chunk);
}

}  // namespace tracenas
