// Decoder benchmark: forward + backward of a full model and of a half-size
// candidate realized with the prefix fast path (PrefixWeights, subnet.hpp).
//
// What it is for: checking on this machine the "Performance decisions" of
// DESIGN.md - that a candidate made of narrow() views of the reordered
// weights costs time in proportion to its FLOPs (no weight copies; removed
// heads and channels cost nothing), and how close the decoder's training-style
// step runs to the machine's dense matmul rate measured in the same process.
// Random float32 weights, one fixed random batch. A benchmark, not a test: it
// prints figures, then ONE JSON object with all of them on the last line.
//
// Run: OMP_WAIT_POLICY=PASSIVE tracenas_bench_decoder [--threads N] [--reps N]
//                                                     [--heads N] [--kv-heads N]
//                                                     [--drop-layers N]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/runtime.hpp"
#include "bench_model.hpp"
#include "model/subnet.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {
namespace {

using namespace bench;  // NOLINT(build/namespaces)

using nlohmann::json;

constexpr const char* kUsage =
    "usage: tracenas_bench_decoder [--threads N] [--reps N] [--heads N] [--kv-heads N]\n"
    "                              [--drop-layers N]\n"
    "  --threads N   LibTorch intra-op threads (default 2)\n"
    "  --reps N      timed repetitions per model, after one warm-up (default 5)\n"
    "  --heads N     candidate query heads per layer (default 4)\n"
    "  --kv-heads N  candidate KV heads per layer (default 1); the MLP width is then\n"
    "                chosen so the candidate has ~50% of the non-embedding parameters\n"
    "  --drop-layers N  instead of narrowing, remove both blocks of the last N layers and\n"
    "                keep the others at full width (N = 4 halves this model)\n"
    "Run with OMP_WAIT_POLICY=PASSIVE in the environment (see bench/README.md).\n";

constexpr double kRatioGoal = 0.6;
constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kPageMiB = 4096.0 / kMiB;  // one minor page fault maps a 4 KiB page

struct Options {
  int threads = 2;
  int reps = 5;
  int heads = 4;
  int kv_heads = 1;
  int drop_layers = 0;  // > 0: a depth-pruned candidate instead of a narrowed one
};

bool parse_int(const char* text, int* out) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 1 << 20) return false;
  *out = static_cast<int>(v);
  return true;
}

bool parse_options(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    int* target = a == "--threads"       ? &o->threads
                  : a == "--reps"        ? &o->reps
                  : a == "--heads"       ? &o->heads
                  : a == "--kv-heads"    ? &o->kv_heads
                  : a == "--drop-layers" ? &o->drop_layers
                                         : nullptr;
    if (target == nullptr || i + 1 >= argc || !parse_int(argv[++i], target)) return false;
  }
  return true;
}

ImportanceOrder identity_order(const ModelConfig& c) {
  auto iota = [](int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
    return v;
  };
  LayerOrder o{iota(c.num_kv_heads), iota(c.num_heads), iota(c.intermediate_size)};
  return ImportanceOrder(static_cast<std::size_t>(c.num_layers), o);
}

// Full-width layers, except that the last `drop` layers lose both blocks.
Arch depth_candidate(const ModelConfig& c, int drop) {
  Arch a = full_arch(c);
  for (int i = c.num_layers - drop; i < c.num_layers; ++i) {
    a.layers[static_cast<std::size_t>(i)].attn = false;
    a.layers[static_cast<std::size_t>(i)].mlp = false;
  }
  validate_arch(a, c, "candidate");
  return a;
}

// One line for the benchmark's two kinds of candidates (kept layers share one width).
std::string describe(const Arch& a) {
  std::size_t kept = 0;
  const LayerArch* w = nullptr;
  for (const LayerArch& l : a.layers) {
    if (l.attn && l.mlp) {
      ++kept;
      w = &l;
    }
  }
  if (w == nullptr) return "no block kept";
  const std::string layers = kept == a.layers.size()
                                 ? "all " + std::to_string(kept) + " layers kept"
                                 : std::to_string(kept) + " of " + std::to_string(a.layers.size()) +
                                       " layers kept (the others' blocks removed)";
  return layers + ", heads " + std::to_string(w->heads) + ", kv_heads " +
         std::to_string(w->kv_heads) + ", mlp_channels " + std::to_string(w->mlp_channels);
}

// The weights with every kept projection (q, k, v, o, gate, up, down) replaced
// by a gradient leaf sharing its storage: detach() of a (narrowed) view is a
// view of the same storage, so no weight is copied. The leaves are appended.
ModelWeights with_grad_leaves(const ModelWeights& w, std::vector<at::Tensor>* leaves) {
  ModelWeights out = w;
  auto leaf = [&](at::Tensor* t) {
    *t = t->detach().requires_grad_(true);
    leaves->push_back(*t);
  };
  for (LayerWeights& l : out.layers) {
    if (l.attn) {
      for (at::Tensor* t : {&l.attention.q, &l.attention.k, &l.attention.v, &l.attention.o}) {
        leaf(t);
      }
    }
    if (l.mlp) {
      for (at::Tensor* t : {&l.ffn.gate, &l.ffn.up, &l.ffn.down}) leaf(t);
    }
  }
  return out;
}

struct RunResult {
  std::vector<double> seconds;  // per timed repetition
  std::vector<double> faults;   // minor page faults per timed repetition
  double loss = 0;
};

long minor_faults() {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_minflt : 0;
}

// One warm-up, then `reps` timed forward + backward passes. Gradients are
// cleared before each pass, outside the timed region.
RunResult time_forward_backward(const ModelConfig& c, const ModelWeights& w,
                                std::vector<at::Tensor>& leaves, const at::Tensor& tokens,
                                int reps) {
  RunResult r;
  for (int i = 0; i <= reps; ++i) {
    for (at::Tensor& t : leaves) t.mutable_grad() = at::Tensor();
    const long faults = minor_faults();
    const auto start = std::chrono::steady_clock::now();
    at::Tensor loss = causal_lm_loss(decoder_logits(c, w, tokens), tokens);
    loss.backward();
    const double s = seconds_since(start);
    if (i > 0) {
      r.seconds.push_back(s);
      r.faults.push_back(static_cast<double>(minor_faults() - faults));
    }
    r.loss = loss.item<double>();
  }
  return r;
}

struct Memory {
  double peak_mib = 0;     // getrusage ru_maxrss: the process's peak resident set
  double current_mib = 0;  // VmRSS of /proc/self/status (0 where unavailable)
};

Memory memory_now() {
  Memory m;
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) == 0) m.peak_mib = static_cast<double>(u.ru_maxrss) / 1024.0;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      m.current_mib = std::strtod(line.c_str() + 6, nullptr) / 1024.0;  // kB
    }
  }
  return m;
}

json memory_json(const Memory& m) {
  return {{"peak_rss_mib", m.peak_mib}, {"current_rss_mib", m.current_mib}};
}

double weight_mib(const ModelConfig& c, const ModelWeights& w) {
  double bytes = 0;
  for (const auto& [name, t] : named_hf_tensors(c, w, hf_decoder_names()))
    bytes += static_cast<double>(t.nbytes());
  return bytes / kMiB;
}

// The same, without the embeddings, LM head and final norm.
double layer_weight_mib(const ModelConfig& c, const ModelWeights& w) {
  const double outside = static_cast<double>(w.embed.nbytes() + w.final_norm.nbytes() +
                                             (c.tie_word_embeddings ? 0 : w.lm_head.nbytes()));
  return weight_mib(c, w) - outside / kMiB;
}

// Projection weights the decoder has to copy on every forward: it flattens
// q, k, v, gate, up to [out, d] and o to [d, in] with reshape(), which copies
// a view whose strides do not flatten (e.g. q narrowed to fewer heads per
// KV group). down is used as down.t() and is never copied.
int copied_per_forward(const ModelConfig& c, const ModelWeights& w) {
  const int64_t d = c.hidden_size;
  int copies = 0;
  auto check = [&](const at::Tensor& t, std::vector<int64_t> shape) {
    if (!t.reshape(shape).is_alias_of(t)) ++copies;
  };
  for (const LayerWeights& l : w.layers) {
    if (l.attn) {
      check(l.attention.q, {-1, d});
      check(l.attention.k, {-1, d});
      check(l.attention.v, {-1, d});
      check(l.attention.o, {d, -1});
    }
    if (l.mlp) {
      check(l.ffn.gate, {-1, d});
      check(l.ffn.up, {-1, d});
    }
  }
  return copies;
}

// Kept projection views of `w` that share storage with the reordered weights.
int shared_with(const ModelWeights& w, const ModelWeights& base, int* total) {
  int shared = 0;
  *total = 0;
  auto check = [&](const at::Tensor& t, const at::Tensor& b) {
    ++*total;
    if (t.is_alias_of(b)) ++shared;
  };
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const LayerWeights& r = base.layers[i];
    if (l.attn) {
      check(l.attention.q, r.attention.q);
      check(l.attention.k, r.attention.k);
      check(l.attention.v, r.attention.v);
      check(l.attention.o, r.attention.o);
    }
    if (l.mlp) {
      check(l.ffn.gate, r.ffn.gate);
      check(l.ffn.up, r.ffn.up);
      check(l.ffn.down, r.ffn.down);
    }
  }
  return shared;
}

struct Figures {
  double seconds = 0;
  double tokens_per_s = 0;
  double gflop = 0;
  double gflops = 0;
  double of_dense = 0;
  double faults = 0;  // median minor page faults per step
};

Figures figures(const RunResult& r, const Flops& f, double dense_gflops) {
  Figures x;
  x.seconds = median(r.seconds);
  x.tokens_per_s = static_cast<double>(kBatch * kSeq) / x.seconds;
  x.gflop = f.total() / 1e9;
  x.gflops = x.gflop / x.seconds;
  x.of_dense = x.gflops / dense_gflops;
  x.faults = median(r.faults);
  return x;
}

json run_json(const RunResult& r, const Flops& f, const Figures& x, std::int64_t params,
              std::int64_t non_embedding) {
  return {{"params", params},
          {"non_embedding_params", non_embedding},
          {"seconds_median", x.seconds},
          {"seconds", r.seconds},
          {"tokens_per_s", x.tokens_per_s},
          {"flops_forward", f.forward},
          {"flops_backward", f.backward},
          {"flops", f.total()},
          {"gflops", x.gflops},
          {"fraction_of_dense", x.of_dense},
          {"page_faults_per_step", x.faults},
          {"page_faults", r.faults},
          {"loss", r.loss}};
}

void print_row(const char* name, const Figures& x) {
  std::printf("  %-10s %8.3f %10.0f %12.2f %9.1f %9.2f %12.0f\n", name, x.seconds, x.tokens_per_s,
              x.gflop, x.gflops, x.of_dense, x.faults * kPageMiB);
}

void print_memory(const char* when, const Memory& m) {
  std::printf("  %-28s %9.1f %9.1f\n", when, m.peak_mib, m.current_mib);
}

// The benchmark as one script: every figure it prints is measured in this
// order in one process (matmul rate first, then each model pass), so the
// steps stay together (about 170 lines) rather than being spread out.
int run(const Options& opt) {
  at::set_num_threads(opt.threads);
  tune_allocator();  // as every tracenas command does (runtime.hpp)
  const std::string policy = omp_wait_policy_or_warn();

  const ModelConfig c = bench_config();
  const Arch full = full_arch(c);
  if (opt.drop_layers >= c.num_layers) {
    std::fprintf(stderr, "error: --drop-layers must be below %d (got %d)\n", c.num_layers,
                 opt.drop_layers);
    return 2;
  }
  const Arch cand = opt.drop_layers > 0 ? depth_candidate(c, opt.drop_layers)
                                        : half_candidate(c, opt.heads, opt.kv_heads);
  const std::int64_t full_params = count_params(c, full), cand_params = count_params(c, cand);
  const std::int64_t full_ne = non_embedding_params(c, full);
  const std::int64_t cand_ne = non_embedding_params(c, cand);
  const double param_fraction = static_cast<double>(cand_ne) / static_cast<double>(full_ne);

  std::printf("TraceNAS decoder benchmark (LibTorch %s, %d threads, OMP_WAIT_POLICY=%s)\n",
              torch_version().c_str(), at::get_num_threads(),
              policy.empty() ? "(unset)" : policy.c_str());
  std::printf("model: %s d=%d L=%d H=%d G=%d h=%d I=%d V=%d, float32, random weights (std %.2f)\n",
              c.model_type.c_str(), c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads,
              c.head_dim, c.intermediate_size, c.vocab_size, kInitStd);
  std::printf(
      "step: forward + backward of causal_lm_loss on %lld x %lld tokens, gradients of the "
      "kept projection weights; median of %d after 1 warm-up\n",
      static_cast<long long>(kBatch), static_cast<long long>(kSeq), opt.reps);
  std::printf("candidate: %s (PrefixWeights over the identity order, view(arch))\n",
              describe(cand).c_str());
  std::printf(
      "parameters: full %lld (non-embedding %lld), candidate %lld (non-embedding %lld); "
      "non-embedding fraction %.4f\n",
      static_cast<long long>(full_params), static_cast<long long>(full_ne),
      static_cast<long long>(cand_params), static_cast<long long>(cand_ne), param_fraction);

  const Memory mem_start = memory_now();
  ModelWeights base = random_weights(c);
  const Memory mem_model = memory_now();
  const PrefixWeights prefix(c, base, identity_order(c));  // reorders `base` in place
  const Memory mem_prefix = memory_now();
  const double base_mib = weight_mib(c, base);
  // The reordered weights are the base's own tensors (reordered in place).
  const double reordered_mib = layer_weight_mib(c, prefix.reordered());

  const double dense_before = dense_matmul_gflops();

  at::manual_seed(kSeed + 1);
  const at::Tensor tokens = at::randint(c.vocab_size, {kBatch, kSeq}, at::kLong);

  std::vector<at::Tensor> full_leaves;
  const ModelWeights full_w = with_grad_leaves(base, &full_leaves);
  const RunResult full_run = time_forward_backward(c, full_w, full_leaves, tokens, opt.reps);
  const Memory mem_full = memory_now();

  const ModelWeights cand_view = prefix.view(cand);
  std::vector<at::Tensor> cand_leaves;
  const ModelWeights cand_w = with_grad_leaves(cand_view, &cand_leaves);
  const RunResult cand_run = time_forward_backward(c, cand_w, cand_leaves, tokens, opt.reps);
  const Memory mem_cand = memory_now();

  const double dense_after = dense_matmul_gflops();
  // The machine's rate: the better of the two (a busy neighbour lowers one of them).
  const double dense = std::max(dense_before, dense_after);

  // Diagnostics after the memory samples (the reshape checks may allocate).
  int leaves_total = 0;
  const int leaves_shared = shared_with(cand_w, prefix.reordered(), &leaves_total);
  const int full_copies = copied_per_forward(c, full_w);
  const int cand_copies = copied_per_forward(c, cand_w);
  const double cand_view_mib = weight_mib(c, cand_view);

  const Flops full_flops = count_flops(c, full, kBatch, kSeq);
  const Flops cand_flops = count_flops(c, cand, kBatch, kSeq);
  const Figures fx = figures(full_run, full_flops, dense);
  const Figures cx = figures(cand_run, cand_flops, dense);
  const double ratio = cx.seconds / fx.seconds;
  const double flop_ratio = cand_flops.total() / full_flops.total();
  const bool ratio_ok = ratio <= kRatioGoal;

  std::printf(
      "dense matmul (%lldx%lld fp32 at::mm, >= %.0f s): %.1f GFLOP/s before the runs, "
      "%.1f after; reference %.1f\n",
      static_cast<long long>(kDenseN), static_cast<long long>(kDenseN), kDenseSeconds, dense_before,
      dense_after, dense);
  std::printf("\n  %-10s %8s %10s %12s %9s %9s %12s\n", "", "s/step", "tokens/s", "GFLOP/step",
              "GFLOP/s", "of dense", "faults MiB");
  print_row("full", fx);
  print_row("candidate", cx);
  std::printf("time ratio candidate/full: %.3f (<= %.1f: %s); FLOP ratio %.3f\n", ratio, kRatioGoal,
              ratio_ok ? "yes" : "NO", flop_ratio);
  std::printf("loss: full %.4f, candidate %.4f\n", full_run.loss, cand_run.loss);

  std::printf("\nmemory (MiB)                   peak RSS   current RSS\n");
  print_memory("start", mem_start);
  print_memory("model built", mem_model);
  print_memory("PrefixWeights built", mem_prefix);
  print_memory("after full run", mem_full);
  print_memory("after candidate run", mem_cand);
  std::printf(
      "weights: base model %.1f MiB (peak RSS +%.1f MiB); PrefixWeights reorders "
      "%.1f MiB of them in place (peak RSS +%.1f MiB)\n",
      base_mib, mem_model.peak_mib - mem_start.peak_mib, reordered_mib,
      mem_prefix.peak_mib - mem_model.peak_mib);
  std::printf(
      "candidate: views of %.1f MiB of the reordered weights; %d of %d projection leaves "
      "share its storage; the candidate run raised peak RSS by %.1f MiB\n",
      cand_view_mib, leaves_shared, leaves_total, mem_cand.peak_mib - mem_full.peak_mib);
  std::printf(
      "projection weights decoder_logits copies per forward (reshape of a view that "
      "does not flatten): full %d, candidate %d\n",
      full_copies, cand_copies);

  json cand_json = run_json(cand_run, cand_flops, cx, cand_params, cand_ne);
  cand_json.update({{"arch", describe(cand)},
                    {"layers_kept", c.num_layers - opt.drop_layers},
                    {"heads", cand.layers.front().heads},
                    {"kv_heads", cand.layers.front().kv_heads},
                    {"mlp_channels", cand.layers.front().mlp_channels},
                    {"leaves_sharing_storage", leaves_shared},
                    {"leaves", leaves_total}});
  const json out = {
      {"benchmark", "tracenas_bench_decoder"},
      {"torch_version", torch_version()},
      {"threads", at::get_num_threads()},
      {"omp_wait_policy", policy.empty() ? json(nullptr) : json(policy)},
      {"model",
       {{"model_type", c.model_type},
        {"hidden_size", c.hidden_size},
        {"num_layers", c.num_layers},
        {"num_heads", c.num_heads},
        {"num_kv_heads", c.num_kv_heads},
        {"head_dim", c.head_dim},
        {"intermediate_size", c.intermediate_size},
        {"vocab_size", c.vocab_size},
        {"dtype", "float32"}}},
      {"batch", kBatch},
      {"seq", kSeq},
      {"reps", opt.reps},
      {"dense_matmul_gflops", dense},
      {"dense_matmul_gflops_before", dense_before},
      {"dense_matmul_gflops_after", dense_after},
      {"full", run_json(full_run, full_flops, fx, full_params, full_ne)},
      {"candidate", cand_json},
      {"non_embedding_fraction", param_fraction},
      {"time_ratio", ratio},
      {"flop_ratio", flop_ratio},
      {"time_ratio_goal", kRatioGoal},
      {"time_ratio_ok", ratio_ok},
      {"weight_copies_per_forward", {{"full", full_copies}, {"candidate", cand_copies}}},
      {"weights_mib",
       {{"base", base_mib},
        {"prefix_reordered_copy", reordered_mib},
        {"candidate_views", cand_view_mib}}},
      {"memory",
       {{"start", memory_json(mem_start)},
        {"model_built", memory_json(mem_model)},
        {"prefix_weights_built", memory_json(mem_prefix)},
        {"after_full_run", memory_json(mem_full)},
        {"after_candidate_run", memory_json(mem_cand)}}},
  };
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace tracenas

int main(int argc, char** argv) {
  tracenas::Options options;
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(tracenas::kUsage, stdout);
    return 0;
  }
  if (!tracenas::parse_options(argc, argv, &options)) {
    std::fputs(tracenas::kUsage, stderr);
    return 2;
  }
  try {
    return tracenas::run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
