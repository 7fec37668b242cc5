#include "scoring/evaluator.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/runtime.hpp"
#include "base/util.hpp"
#include "data/calibration.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

// Every value of a ParamValues, in name order, into the hash.
void add_params(Hasher& h, const ParamValues& p) {
  for (const auto& [name, value] : p.values()) {
    h.add(name);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            h.add(std::string_view("-"));
          } else if constexpr (std::is_same_v<T, bool>) {
            h.add(static_cast<std::int64_t>(v));
          } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, double> ||
                               std::is_same_v<T, std::string>) {
            h.add(v);
          } else {
            h.add(static_cast<std::int64_t>(v.size()));
            for (const auto& e : v) h.add(e);
          }
        },
        value);
  }
}

}  // namespace

std::string model_files_identity(const std::string& dir) {
  Hasher h;
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    // Hidden files (the folder lock of `train --out`) are not the model's.
    if (e.is_regular_file() && e.path().filename().string().rfind('.', 0) != 0) {
      files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) h.add_file_identity(f);
  return h.hex();
}

std::optional<ImportanceOrder> importance_from_json(const std::string& text, const ModelConfig& c) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("layers") || !j["layers"].is_array() ||
      j["layers"].size() != static_cast<std::size_t>(c.num_layers)) {
    return std::nullopt;
  }
  ImportanceOrder order;
  auto read = [](const nlohmann::json& l, const char* key, int n, std::vector<int>& out) {
    if (!l.contains(key) || !l[key].is_array() || l[key].size() != static_cast<std::size_t>(n)) {
      return false;
    }
    for (const auto& v : l[key]) {
      if (!v.is_number_integer()) return false;
      out.push_back(v.get<int>());
    }
    std::vector<int> sorted = out;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < n; ++i) {
      if (sorted[static_cast<std::size_t>(i)] != i) return false;
    }
    return true;
  };
  for (const auto& l : j["layers"]) {
    LayerOrder o;
    if (!read(l, "kv_order", c.num_kv_heads, o.kv_order) ||
        !read(l, "head_order", c.num_heads, o.head_order) ||
        !read(l, "channel_order", c.intermediate_size, o.channel_order)) {
      return std::nullopt;
    }
    order.push_back(std::move(o));
  }
  return order;
}

Evaluator::Evaluator(EvaluatorInputs inputs) : in_(std::move(inputs)) {
  const ModelConfig& c = in_.model->config();
  check_token_ids(in_.batches, c.vocab_size,
                  in_.data_name.empty() ? in_.data_fingerprint : in_.data_name);
  needs_.loss = true;
  const ScoredProxy* sketch_owner = nullptr;
  const ScoredProxy* lora_owner = nullptr;
  for (const auto& p : in_.proxies) {
    TraceNeeds n = p.proxy.call("needs", [](Proxy& px) { return px.needs(); });
    if (n.sketch_rank > 0) {
      if (sketch_owner != nullptr &&
          (n.sketch_rank != needs_.sketch_rank || n.sketch_seed != needs_.sketch_seed)) {
        throw ConfigError("proxies: '" + sketch_owner->label + "' and '" + p.label +
                          "' ask for different gradient sketches (rank " +
                          std::to_string(needs_.sketch_rank) + " seed " +
                          std::to_string(needs_.sketch_seed) + " vs rank " +
                          std::to_string(n.sketch_rank) + " seed " + std::to_string(n.sketch_seed) +
                          "); one pass serves one sketch");
      }
      sketch_owner = &p;
    }
    if (n.lora_rank > 0) {
      if (lora_owner != nullptr &&
          (n.lora_rank != needs_.lora_rank || n.lora_seed != needs_.lora_seed ||
           n.lora_alpha != needs_.lora_alpha)) {
        throw ConfigError("proxies: '" + lora_owner->label + "' and '" + p.label +
                          "' ask for different LoRA traces (rank " +
                          std::to_string(needs_.lora_rank) + " vs " + std::to_string(n.lora_rank) +
                          ", or another seed or alpha); one pass "
                          "serves one LoRA trace");
      }
      lora_owner = &p;
    }
    needs_ |= n;
    directions_.push_back(p.proxy.call("direction", [](Proxy& px) { return px.direction(); }));
  }
  base_params_ = count_params(c, full_arch(c));
  if (in_.device == "cpu" && !in_.batches.empty()) {
    // BLAS threads and pieces at once (blas.hpp, choose_pass_threads).
    const at::Tensor& b = in_.batches.front();
    const int64_t rows =
        in_.pass.micro_batch_size > 0 ? std::min(in_.pass.micro_batch_size, b.size(0)) : b.size(0);
    const double widest = std::max({static_cast<double>(c.intermediate_size),
                                    static_cast<double>(c.num_heads) * c.head_dim,
                                    static_cast<double>(c.hidden_size)});
    long long pieces = 0;
    for (const at::Tensor& batch : in_.batches) pieces += batch.size(0);
    threads_ = choose_pass_threads(static_cast<double>(rows * b.size(1)), c.hidden_size, widest,
                                   at::get_num_threads(), pieces);
    if (in_.pass.parallel_batches == 1) in_.pass.parallel_batches = threads_.shares;
    threads_.shares = in_.pass.parallel_batches;
  }
}

const ModelConfig& Evaluator::config() const { return in_.model->config(); }

void Evaluator::prepare() {
  prepare_importance();
  prepare_traces(nullptr);
}

void Evaluator::prepare_importance() {
  if (importance_ready_) return;
  const BlasThreadsScope blas(threads_.blas);
  const ModelConfig& c = config();
  DiskCache cache(in_.cache_dir);

  // Importance: keyed by model, data, batching, dtype/device and criterion.
  auto t0 = std::chrono::steady_clock::now();
  const bool seeded =
      in_.criterion_instance.call("seeded", [](ImportanceCriterion& ic) { return ic.seeded(); });
  Hasher ih;
  ih.add(std::string_view("importance/1"))
      .add(model_files_identity(in_.model_dir))
      .add(in_.data_fingerprint)
      .add(in_.dtype)
      .add(in_.device)
      .add(in_.criterion);
  add_params(ih, in_.criterion_params);
  if (seeded) ih.add(static_cast<std::int64_t>(in_.run_seed));
  const std::string importance_key = ih.hex();
  const std::string importance_path = cache.path("importance", importance_key, ".json");
  std::optional<ImportanceOrder> cached;
  if (cache.enabled()) {
    if (auto text = read_file_if_exists(importance_path)) cached = importance_from_json(*text, c);
  }
  if (cached) {
    order_ = std::move(*cached);
    importance_cached_ = true;
    log().info("importance ({}) loaded from the cache {}", in_.criterion, importance_path);
  } else {
    const bool norms = in_.criterion_instance.call(
        "needs_activation_norms",
        [](ImportanceCriterion& ic) { return ic.needs_activation_norms(); });
    const std::int64_t block =
        in_.batches.empty() ? 0 : attention_block_for(in_.pass, in_.batches.front().size(1));
    order_ = compute_importance(
                 *in_.model, in_.batches, norms,
                 [&](const LayerImportanceInput& li) {
                   return in_.criterion_instance.call(
                       "score", [&](ImportanceCriterion& ic) { return ic.score(li); });
                 },
                 block)
                 .order;
    if (cache.enabled()) write_file_atomic(importance_path, importance_to_json(order_) + "\n");
  }
  importance_seconds_ = seconds_since(t0);
  importance_key_ = importance_key;
  prefix_ = std::make_unique<PrefixWeights>(c, in_.model->mutable_weights(), order_);
  importance_ready_ = true;
}

void Evaluator::prepare_traces(Communicator* ranks) {
  if (prepared_) return;
  prepare_importance();
  const BlasThreadsScope blas(threads_.blas);
  const ModelConfig& c = config();
  DiskCache cache(in_.cache_dir);
  const std::string& importance_key = importance_key_;
  bool together = ranks != nullptr && ranks->size() > 1;

  // Base traces: keyed by the importance key and what the proxies need.
  const auto t0 = std::chrono::steady_clock::now();
  TraceNeeds base_needs;
  base_needs.base_weight_grads = needs_.base_weight_grads;
  base_needs.sketch_rank = needs_.sketch_rank;
  base_needs.sketch_seed = needs_.sketch_seed;
  base_needs.base_logits = needs_.base_logits;
  base_needs.lora_rank = needs_.lora_rank;
  base_needs.lora_seed = needs_.lora_seed;
  base_needs.lora_alpha = needs_.lora_alpha;
  Hasher th;
  th.add(std::string_view("base_traces/2"))
      .add(static_cast<std::int64_t>(base_needs.lora_rank))
      .add(static_cast<std::int64_t>(base_needs.lora_seed))
      .add(base_needs.lora_alpha)
      .add(importance_key)
      .add(static_cast<std::int64_t>(base_needs.base_weight_grads))
      .add(static_cast<std::int64_t>(base_needs.sketch_rank))
      .add(static_cast<std::int64_t>(base_needs.sketch_seed))
      .add(static_cast<std::int64_t>(base_needs.base_logits));
  const std::string traces_path = cache.path("base_traces", th.hex(), ".safetensors");
  std::optional<BaseTraces> loaded;
  if (cache.enabled() && (!together || ranks->is_root())) {
    loaded = load_base_traces(traces_path, base_needs, c.num_layers, in_.device);
  }
  if (together) {
    // Rank 0's cache decides: every rank loads, or every rank takes part in the pass.
    const bool cached = ranks->broadcast_bytes(loaded ? "1" : "0", 0,
                                               "asking rank 0's cache for the base traces") == "1";
    if (cached && !ranks->is_root() && cache.enabled()) {
      loaded = load_base_traces(traces_path, base_needs, c.num_layers, in_.device);
    }
    if (cached && !loaded) {
      log().info("base traces: rank 0's cache entry {} is not readable here; computing them",
                 traces_path);
      together = false;
    } else if (!cached) {
      loaded.reset();
    }
  }
  if (loaded) {
    base_ = std::move(*loaded);
    traces_cached_ = true;
    log().info("base traces loaded from the cache {}", traces_path);
  } else {
    // One process alone, or every rank with a share of the batches (their sums on each).
    PassOptions pass = in_.pass;
    pass.ranks = together ? ranks : nullptr;
    base_ = compute_base_traces(c, *prefix_, in_.batches, base_needs, pass);
    const bool worth_caching = base_needs.base_weight_grads || base_needs.sketch_rank > 0 ||
                               base_needs.base_logits || base_needs.lora_rank > 0;
    if (cache.enabled() && worth_caching && (!together || ranks->is_root())) {
      fs::create_directories(fs::path(traces_path).parent_path());
      save_base_traces(traces_path, base_);
    }
  }
  traces_seconds_ = seconds_since(t0);
  prepared_ = true;
}

void Evaluator::set_pass_ranks(Communicator* ranks) {
  PassOptions o = in_.pass;
  o.ranks = ranks;
  const std::string problem = data_parallel_problem(o, in_.batches, needs_.grad_moments);
  if (!problem.empty()) throw ConfigError("data-parallel passes: " + problem);
  in_.pass.ranks = ranks;
}

Evaluation Evaluator::evaluate(const Arch& arch) {
  prepare();
  const BlasThreadsScope blas(threads_.blas);
  if (!prefix_)
    prefix_ = std::make_unique<PrefixWeights>(config(), in_.model->mutable_weights(), order_);
  const ModelConfig& c = config();
  Evaluation ev;
  auto t0 = std::chrono::steady_clock::now();
  Trace trace = run_candidate_pass(c, *prefix_, arch, base_, in_.batches, needs_, in_.pass);
  ++passes_;
  ev.pass_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  Candidate cand;
  cand.arch = &arch;
  cand.base = &c;
  cand.params = count_params(c, arch);
  cand.base_params = base_params_;
  ev.params = cand.params;
  for (const auto& p : in_.proxies) {
    const auto t1 = std::chrono::steady_clock::now();
    ev.values.push_back(p.proxy.call("score", [&](Proxy& px) { return px.score(cand, trace); }));
    ev.proxy_each_seconds.push_back(seconds_since(t1));
  }
  ev.proxy_seconds = seconds_since(t0);
  return ev;
}

ModelWeights Evaluator::realize(const std::vector<LayerSelection>& selection) const {
  if (prefix_) return prefix_->realize(selection);
  return realize_weights(config(), in_.model->weights(), selection);
}

void Evaluator::release_weights() { prefix_.reset(); }

}  // namespace tracenas
