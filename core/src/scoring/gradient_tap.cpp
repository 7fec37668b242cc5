#include "scoring/gradient_tap.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = x W^T with W given in its grouped layout; the backward feeds `sums`.
class TracedLinear : public torch::autograd::Function<TracedLinear> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            int64_t in_features, bool has_bias, ProjectionSums* sums) {
    // A copy when the view is not contiguous: transient, the backward makes it again.
    at::Tensor w2 = w.reshape({-1, in_features});  // [out, in]
    ctx->save_for_backward({x, w});
    ctx->saved_data["in"] = in_features;
    ctx->saved_data["bias"] = has_bias;
    ctx->saved_data["sums"] = reinterpret_cast<int64_t>(sums);
    at::Tensor y = at::matmul(x, w2.t());  // [..., out]
    if (sums->lora_scale > 0) {
      const auto dt = x.scalar_type();
      y = y + at::matmul(at::matmul(x, sums->a.t().to(dt)), sums->b.t().to(dt)) * sums->lora_scale;
    }
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& w = saved[1];
    const int64_t in = ctx->saved_data["in"].toInt();
    auto* sums = reinterpret_cast<ProjectionSums*>(ctx->saved_data["sums"].toInt());
    const at::Tensor& dy = grads[0];      // [..., out]
    at::Tensor w2 = w.reshape({-1, in});  // [out, in]
    at::Tensor dx = at::matmul(dy, w2);   // [..., in]
    if (sums->lora_scale > 0) {
      const auto dt = dy.scalar_type();
      dx = dx + at::matmul(at::matmul(dy, sums->b.to(dt)), sums->a.to(dt)) * sums->lora_scale;
    }
    const auto acc = w.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const int64_t out = w2.size(0);
    at::Tensor dy2 = dy.reshape({-1, out}).to(acc);  // [tokens, out]
    at::Tensor x2 = x.reshape({-1, in}).to(acc);     // [tokens, in]
    // into += p^T q, in place once `into` exists (no temporary of its size).
    auto add_product = [](at::Tensor& into, const at::Tensor& p, const at::Tensor& q) {
      if (into.defined()) {
        into.addmm_(p.t(), q);
      } else {
        into = at::matmul(p.t(), q);
      }
    };
    if (sums->full) add_product(sums->weight, dy2, x2);  // [out, in]
    if (sums->a.defined()) {
      add_product(sums->right, dy2, at::matmul(x2, sums->a.t()));  // [out, r]
      add_product(sums->left, at::matmul(dy2, sums->b), x2);       // [r, in]
    }
    if (ctx->saved_data["bias"].toBool()) {
      at::Tensor db = dy2.sum(0);  // [out]
      sums->bias = sums->bias.defined() ? sums->bias.add_(db) : db;
    }
    return {dx, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

GradientTap::GradientTap(std::size_t num_layers, bool full) : slots_(num_layers) {
  for (auto& layer : slots_) {
    for (ProjectionSums& s : layer) s.full = full;
  }
}

ProjectionSums& GradientTap::sums(int layer, Projection p) {
  return slots_.at(static_cast<std::size_t>(layer))[static_cast<std::size_t>(p)];
}

void GradientTap::set_sketch(int layer, Projection p, at::Tensor a, at::Tensor b,
                             double lora_scale) {
  ProjectionSums& s = sums(layer, p);
  s.a = std::move(a);
  s.b = std::move(b);
  s.lora_scale = lora_scale;
}

GradientTap GradientTap::fork() const {
  GradientTap t(slots_.size(), false);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    for (std::size_t k = 0; k < slots_[i].size(); ++k) {
      const ProjectionSums& from = slots_[i][k];
      ProjectionSums& to = t.slots_[i][k];
      to.full = from.full;
      to.a = from.a;
      to.b = from.b;
      to.lora_scale = from.lora_scale;
    }
  }
  return t;
}

void GradientTap::merge(GradientTap& other) {
  if (other.slots_.size() != slots_.size()) throw Error("GradientTap::merge: layer counts differ");
  auto add = [](at::Tensor& into, at::Tensor& from) {
    if (!from.defined()) return;
    if (into.defined()) {
      into.add_(from);
    } else {
      into = std::move(from);
    }
    from = at::Tensor();
  };
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    for (std::size_t k = 0; k < slots_[i].size(); ++k) {
      ProjectionSums& to = slots_[i][k];
      ProjectionSums& from = other.slots_[i][k];
      add(to.weight, from.weight);
      add(to.bias, from.bias);
      add(to.right, from.right);
      add(to.left, from.left);
    }
  }
}

std::vector<at::Tensor> GradientTap::accumulated() const {
  std::vector<at::Tensor> out;
  for (const auto& layer : slots_) {
    for (const ProjectionSums& s : layer) {
      for (const at::Tensor* t : {&s.weight, &s.bias, &s.right, &s.left}) {
        if (t->defined()) out.push_back(*t);
      }
    }
  }
  return out;
}

at::Tensor GradientTap::project(int layer, Projection p, const at::Tensor& x, const at::Tensor& w,
                                std::int64_t in_features, const at::Tensor& bias) {
  at::Tensor y = TracedLinear::apply(x, w, in_features, bias.defined(), &sums(layer, p));
  if (bias.defined()) y = y + bias.reshape({-1});
  return y;
}

Projection projection_of(const std::string& name, bool* is_bias) {
  const std::size_t dot = name.find('.');
  const std::string proj = name.substr(0, dot);
  *is_bias = dot != std::string::npos && name.compare(dot, std::string::npos, ".bias") == 0;
  static const std::array<const char*, kNumProjections> kNames = {
      "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (proj == kNames[i]) return static_cast<Projection>(i);
  }
  throw Error("no projection named '" + name + "'");
}

}  // namespace tracenas
