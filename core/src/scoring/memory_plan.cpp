#include "scoring/memory_plan.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace tracenas {
namespace {

constexpr double kRuntimeBytes = 0.3e9;

double element_bytes(const std::string& dtype) {
  if (dtype == "float64") return 8;
  if (dtype == "float32") return 4;
  return 2;
}

// Projection shapes of one full layer: (out, in) for q, k, v, o, gate, up, down.
std::vector<std::pair<double, double>> projection_shapes(const ModelConfig& c) {
  const double d = c.hidden_size, h = c.head_dim, H = c.num_heads, G = c.num_kv_heads,
               I = c.intermediate_size;
  return {{H * h, d}, {G * h, d}, {G * h, d}, {d, H * h}, {I, d}, {I, d}, {d, I}};
}

// What the backward keeps for the kept layers at T tokens (section comment of the header).
double activation_bytes(const MemoryPlanInputs& in, double layer_share, int64_t tokens_per_pass,
                        int64_t rows) {
  const ModelConfig& c = in.config;
  const double e = element_bytes(in.dtype);
  const double T = static_cast<double>(tokens_per_pass), S = static_cast<double>(in.seq_len);
  const double B = static_cast<double>(rows);
  const double d = c.hidden_size, h = c.head_dim, H = c.num_heads, G = c.num_kv_heads,
               I = c.intermediate_size;
  const bool blockwise = in.pass.attention_block > 0 &&
                         !(in.pass.plain_within_block && in.seq_len <= in.pass.attention_block);
  const double norms = 2 * (4 + e) * T * d;
  double attention = e * T * (5 * H * h + 4 * G * h);
  if (blockwise) {
    attention += 4 * B * H * S;
  } else {
    attention += (e > 4 ? 8 : 4) * B * H * S * S;  // the probabilities
  }
  const double mlp = 4 * e * T * I;
  const double kept_layers = layer_share * static_cast<double>(c.num_layers);
  if (in.pass.checkpoint_layers) {
    // Each layer's input, and one layer's activations while it runs again.
    return kept_layers * e * T * d + norms + attention + mlp;
  }
  return kept_layers * (norms + attention + mlp);
}

}  // namespace

std::string gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  return buf;
}

std::string MemoryPlan::summary() const {
  std::ostringstream s;
  s << "peak " << gigabytes(peak_bytes) << " (" << phase << "):";
  for (std::size_t i = 0; i < terms.size(); ++i) {
    s << (i ? ", " : " ") << terms[i].name << " " << gigabytes(terms[i].bytes);
  }
  return s.str();
}

MemoryPlan plan_memory(const MemoryPlanInputs& in) {
  const ModelConfig& c = in.config;
  const double e = element_bytes(in.dtype);
  const double a = in.dtype == "float64" ? 8 : 4;
  const int64_t r = in.needs.sketch_rank;
  const bool sketch = r > 0;
  const bool full_base = in.needs.base_weight_grads;
  const bool full_candidate = in.needs.weight_grads || in.needs.grad_moments;
  const int64_t r_lora = in.needs.lora_rank;
  const bool lora = r_lora > 0;
  const bool gradient_pass = full_base || full_candidate || sketch;
  const bool grads = gradient_pass || lora;
  const bool observer = in.needs.output_grams || in.needs.gate_kernel;

  double P = 0, R = 0, RL = 0;  // projection parameters, sketch and LoRA numbers, all layers
  for (const auto& [out, inp] : projection_shapes(c)) {
    P += out * inp;
    R += static_cast<double>(r) * (out + inp);
    RL += static_cast<double>(r_lora) * (out + inp);
  }
  P *= c.num_layers;
  R *= c.num_layers;
  RL *= c.num_layers;
  const double V = c.vocab_size, d = c.hidden_size;
  const double all_params =
      P + V * d * (c.tie_word_embeddings ? 1 : 2) + d * (2.0 * c.num_layers + 1);
  const double share = std::clamp(in.candidate_fraction, 0.0, 1.0);

  const int64_t rows = in.pass.micro_batch_size > 0
                           ? std::min(in.pass.micro_batch_size, in.batch_size)
                           : in.batch_size;
  const int64_t T = rows * in.seq_len;
  const double chunk = in.pass.loss_chunk_tokens > 0
                           ? static_cast<double>(in.pass.loss_chunk_tokens)
                           : std::max(1.0, static_cast<double>(int64_t{1} << 24) / V);
  const double loss = std::min(chunk, static_cast<double>(T)) * V * (e + 12) + e * T * d;

  const std::string micro = in.pass.checkpoint_layers
                                ? "a smaller data.micro_batch_size"
                                : "run.activation_checkpointing: true or a smaller "
                                  "data.micro_batch_size";
  const MemoryTerm runtime{"runtime", kRuntimeBytes, ""};
  const MemoryTerm weights{"weights", e * all_params, e > 2 ? "run.dtype: bfloat16" : ""};
  // The LoRA pass keeps its factors (a * RL) and the base's (G' A^T, B^T G') in float64.
  const double base_trace_bytes =
      (full_base ? a * P : 0) + (sketch ? 2 * a * R : 0) + (lora ? (a + 8) * RL : 0);
  const std::string trace_hint =
      full_base ? "trace_correlation gradient: sketch" : "a smaller trace_correlation sketch_rank";

  // Activations of the passes a candidate (share of the layers) or the base (1) runs, one
  // after the other, so the largest counts: the gradient pass; the LoRA pass (the same plus
  // x A^T [T, r] per projection); the observer's forward over whole batches, one layer at a
  // time, with its float64 chunk; SynFlow's float64 pass over one sequence, checkpointed,
  // with one layer's |W| copies and the LM head's |W| while it is summed.
  const double kept_layers = static_cast<double>(c.num_layers);
  auto pass_activations = [&](double layer_share, bool candidate) {
    double most = 0;
    const double backward = activation_bytes(in, layer_share, T, rows);
    if (gradient_pass) most = backward;
    if (lora) {
      const double branch = 7 * e * static_cast<double>(T) * static_cast<double>(r_lora) *
                            (in.pass.checkpoint_layers ? 1.0 : layer_share * kept_layers);
      most = std::max(most, backward + branch);
    }
    if (candidate && observer) {
      MemoryPlanInputs whole = in;
      whole.pass.checkpoint_layers = true;  // no backward: one layer's activations at a time
      const int64_t Tb = in.batch_size * in.seq_len;
      const double chunk_cols =
          std::min(static_cast<double>(int64_t{1} << 22),
                   static_cast<double>(in.seq_len) * std::max(d, double(c.intermediate_size)));
      most = std::max(most, activation_bytes(whole, 0.0, Tb, in.batch_size) +
                                8.0 * static_cast<double>(in.batch_size) * chunk_cols);
    }
    if (candidate && in.needs.synflow) {
      MemoryPlanInputs f64 = in;
      f64.dtype = "float64";
      f64.pass.checkpoint_layers = true;
      most = std::max(most, activation_bytes(f64, layer_share, in.seq_len, 1) +
                                8 * P / std::max(1.0, kept_layers) + e * V * d);
    }
    return most;
  };

  MemoryPlan base;
  base.phase = "base pass";
  base.terms = {runtime, weights, {"loss chunk", loss, "a smaller run.loss_chunk_tokens"}};
  if (grads) {
    base.terms.push_back({"activations", pass_activations(1.0, false), micro});
    if (base_trace_bytes > 0) base.terms.push_back({"base traces", base_trace_bytes, trace_hint});
  }

  MemoryPlan cand;
  cand.phase = "candidate pass";
  cand.terms = {runtime, weights, {"loss chunk", loss, "a smaller run.loss_chunk_tokens"}};
  if (base_trace_bytes > 0) cand.terms.push_back({"base traces", base_trace_bytes, trace_hint});
  const double cand_activations = pass_activations(share, true);
  if (cand_activations > 0) cand.terms.push_back({"activations", cand_activations, micro});
  // Every trace a candidate's proxies read lives until they have read it: full gradients
  // (with moments), sketches, the LoRA pairs with the restricted factors, and SynFlow's
  // float64 gradient of every kept weight.
  const double g = (full_candidate ? a * P * share * (in.needs.grad_moments ? 4 : 1) : 0) +
                   (sketch ? (2 * a + 8) * R * share : 0) + (lora ? (2 * a + 8) * RL * share : 0) +
                   (in.needs.synflow ? 8 * P * share : 0);
  if (g > 0) {
    cand.terms.push_back({"candidate traces", g,
                          full_candidate || in.needs.synflow
                              ? "proxies that need no full gradients (synflow keeps one)"
                              : ""});
  }
  if (in.data_parallel) {
    // The flat buffer of one bucket of the sums over the ranks
    // (Communicator::allreduce_sum_buckets), in the traces' dtype.
    const MemoryTerm bucket = {"allreduce bucket",
                               a * static_cast<double>(Communicator::kBucketElements), ""};
    cand.terms.push_back(bucket);
    if (grads) base.terms.push_back(bucket);
  }
  if (in.train_params > 0) {
    // AdamW on float32 master weights: weights, gradients and two moments.
    cand.terms.push_back(
        {"training state", 16.0 * static_cast<double>(in.train_params), "a smaller study window"});
  }
  for (MemoryPlan* p : {&base, &cand}) {
    p->terms.erase(std::remove_if(p->terms.begin(), p->terms.end(),
                                  [](const MemoryTerm& t) { return t.bytes <= 0; }),
                   p->terms.end());
    std::sort(p->terms.begin(), p->terms.end(),
              [](const MemoryTerm& x, const MemoryTerm& y) { return x.bytes > y.bytes; });
    for (const MemoryTerm& t : p->terms) p->peak_bytes += t.bytes;
  }
  return base.peak_bytes > cand.peak_bytes ? base : cand;
}

double available_memory_bytes(const std::string& device, std::string* source) {
  if (device.rfind("cuda", 0) == 0) {
    using MemGetInfo = int (*)(std::size_t*, std::size_t*);
    void* fn = dlsym(RTLD_DEFAULT, "cudaMemGetInfo");
    std::size_t free_bytes = 0, total = 0;
    if (fn != nullptr && reinterpret_cast<MemGetInfo>(fn)(&free_bytes, &total) == 0) {
      if (source) *source = "free CUDA memory";
      return static_cast<double>(free_bytes);
    }
    if (source) *source = "free CUDA memory (unknown: no CUDA runtime loaded)";
    return -1;
  }
  std::ifstream f("/proc/meminfo");
  for (std::string line; std::getline(f, line);) {
    double kib = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %lf kB", &kib) == 1) {
      if (source) *source = "MemAvailable";
      return kib * 1024;
    }
  }
  if (source) *source = "MemAvailable (unknown: no /proc/meminfo)";
  return -1;
}

}  // namespace tracenas
