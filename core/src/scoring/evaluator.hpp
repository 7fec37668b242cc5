// Scoring candidates of one base model on one calibration set.
//
// An Evaluator holds what a run computes once (DESIGN.md "Base work once"):
// the width importance of the base model, the importance-ordered weights
// (PrefixWeights, so a candidate is narrow() views) and the base-model traces
// every proxy of the pipeline needs. Importance and base traces are cached on
// disk, keyed by a hash of the model files' identity, the data fingerprint,
// the batching, the dtype and device, the criterion and its parameters (and,
// for the traces, what the proxies need), so a re-run or a resumed search
// loads them instead of recomputing them.
//
// evaluate(arch) then costs ONE forward/backward pass of the sub-network over
// the K calibration batches (run_candidate_pass), whose Trace every proxy
// reads; passes() counts them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/blas.hpp"
#include "model/subnet.hpp"
#include "plugin/registry.hpp"
#include "scoring/trace.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

struct ScoredProxy {
  std::string label;
  std::string name;
  Instance<Proxy> proxy;
};

struct EvaluatorInputs {
  std::shared_ptr<DecoderModel> model;
  std::string model_dir;  // the checkpoint folder (cache key: its files' identity)
  std::string dtype = "float32";
  std::string device = "cpu";
  std::vector<at::Tensor> batches;  // the K calibration batches [B, seq] int64
  std::string data_fingerprint;     // the data source's fingerprint + batching
  std::string data_name;            // the data in messages (empty: the fingerprint)
  std::string criterion;            // importance criterion name
  ParamValues criterion_params;
  Instance<ImportanceCriterion> criterion_instance;
  std::uint64_t run_seed = 0;  // enters the importance key of a seeded criterion
  std::vector<ScoredProxy> proxies;
  std::string cache_dir;  // empty: no cache
  PassOptions pass;       // micro-batches, attention blocks, loss chunks
};

struct Evaluation {
  std::int64_t params = 0;
  std::vector<double> values;              // one per proxy, in pipeline order (may be non-finite)
  double pass_seconds = 0;                 // forward/backward of the candidate
  double proxy_seconds = 0;                // proxy arithmetic
  std::vector<double> proxy_each_seconds;  // per proxy
};

class Evaluator {
 public:
  // Checks that the calibration tokens fit the model's vocabulary (DataError
  // naming the source, the batch, the position and the id otherwise) and that
  // the proxies' needs can be served by one pass.
  explicit Evaluator(EvaluatorInputs inputs);

  // Computes or loads importance and base traces (idempotent), this process
  // alone: prepare_importance() then prepare_traces(nullptr).
  void prepare();
  void prepare_importance();
  // The base traces. With `ranks` (more than one), every rank calls it: when
  // rank 0's cache holds them every rank loads them (a rank that cannot read
  // that entry computes them alone), else every rank runs its share of the
  // base pass's calibration pieces and the sums are shared (PassOptions::ranks;
  // equal to one process's up to float rounding), and rank 0 writes the cache.
  void prepare_traces(Communicator* ranks);

  // Data-parallel candidate passes over `ranks` (PassOptions::ranks): every
  // rank then calls evaluate() for the same candidates in the same order,
  // and each gets the whole trace and every proxy value. Null: this process
  // alone. ConfigError when the calibration set cannot be split
  // (data_parallel_problem).
  void set_pass_ranks(Communicator* ranks);

  const ModelConfig& config() const;
  const ImportanceOrder& order() const { return order_; }
  std::int64_t base_params() const { return base_params_; }
  const std::vector<ScoredProxy>& proxies() const { return in_.proxies; }
  const std::vector<Direction>& directions() const { return directions_; }

  // One pass of `arch` (widths only; explicit indices are an ArchError) and every proxy.
  Evaluation evaluate(const Arch& arch);

  // The sub-network's weights cut out of the model with its kept units in
  // their original order (prepare() reorders the model's weights in place).
  ModelWeights realize(const std::vector<LayerSelection>& selection) const;
  // Puts the model's weights back in their original order (the next
  // evaluate() reorders them again).
  void release_weights();

  // The CPU threads of the passes: BLAS threads (0: left as they are) and
  // pieces at once (PassOptions::parallel_batches).
  const PassThreads& pass_threads() const { return threads_; }
  int passes() const { return passes_; }
  bool importance_from_cache() const { return importance_cached_; }
  bool traces_from_cache() const { return traces_cached_; }
  double importance_seconds() const { return importance_seconds_; }
  double traces_seconds() const { return traces_seconds_; }

 private:
  EvaluatorInputs in_;
  TraceNeeds needs_;
  std::vector<Direction> directions_;
  ImportanceOrder order_;
  std::unique_ptr<PrefixWeights> prefix_;
  BaseTraces base_;
  std::int64_t base_params_ = 0;
  bool prepared_ = false;
  bool importance_ready_ = false;
  std::string importance_key_;
  int passes_ = 0;
  PassThreads threads_{0, 1};
  bool importance_cached_ = false;
  bool traces_cached_ = false;
  double importance_seconds_ = 0;
  double traces_seconds_ = 0;
};

// An importance order as JSON text (importance_to_json) read back; nullopt
// when the text does not describe `config`.
std::optional<ImportanceOrder> importance_from_json(const std::string& text,
                                                    const ModelConfig& config);

// The identity of a checkpoint folder for cache keys: every file's absolute
// path, size and modification time.
std::string model_files_identity(const std::string& dir);

}  // namespace tracenas
