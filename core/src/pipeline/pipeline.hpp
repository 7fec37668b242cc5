// YAML pipelines: the experiment a user composes, validated and resolved.
//
//   schema_version: 1
//   run:         {name, seed, output_dir, cache_dir, threads, device, dtype, attention,
//                 attention_block, loss_chunk_tokens}
//   plugins:     {search_paths: [...]}
//   model:       {adapter: llama, params: {path: ...}}
//   data:        {source: tokens, seq_len, batch_size, num_batches, micro_batch_size, shuffle,
//                 shuffle_seed,
//                 params: {...}}
//   tokenizer:   {type: sentencepiece, params: {path: ...}}   (optional; text data sources
//                 otherwise use the model folder's tokenizer)
//   importance:  {criterion: wanda, params: {...}}
//   proxies:     [{proxy: trace_correlation, objective: true, label: ..., params: {...}}, ...]
//   search:      {strategy: evolutionary, max_evaluations, time_limit_s, params: {...}}
//   space:       {depth, min_layers, protected_layers, depth_from, heads_step, ...}
//   constraints: {min_params, max_params, target_params, tolerance, ...}
//   output:      {top_k, export_best, shard_size_mb}
//   study:       {architectures, strategy_share, steps, lr, ...}   (`tracenas study`; study.hpp)
//   recovery:    {steps, lr, schedule, ...}   (optional stage of `tracenas run` after the export)
//
// Validation is strict (unknown or duplicate keys, types, ranges, choices,
// unknown component names) and every error is one line:
//   file:line:col: error: dotted.path: what is wrong (got X)
// `--set dotted.path=value` overrides any key before validation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "scoring/trace.hpp"
#include "tracenas/component.hpp"
#include "tracenas/data.hpp"
#include "tracenas/params.hpp"

namespace tracenas {

class Registry;

inline constexpr int kPipelineSchemaVersion = 1;

struct ComponentRef {
  ComponentKind kind = ComponentKind::kProxy;
  std::string name;   // component name
  std::string label;  // proxies: the name results are recorded under (default: name)
  bool objective = false;
  ParamValues params;

  // An empty reference of `kind` (no component named).
  static ComponentRef of(ComponentKind kind) {
    ComponentRef r;
    r.kind = kind;
    return r;
  }
};

struct Pipeline {
  std::string file;  // the YAML file it came from
  int schema_version = kPipelineSchemaVersion;
  ParamValues run;      // name, seed, output_dir, cache_dir, threads, device, dtype
  ParamValues plugins;  // search_paths
  ComponentRef model;
  ComponentRef data;
  ParamValues data_batches;  // seq_len, batch_size, num_batches, shuffle, shuffle_seed
  ComponentRef tokenizer = ComponentRef::of(ComponentKind::kTokenizer);  // empty name: none
  ComponentRef importance;
  std::vector<ComponentRef> proxies;
  int objective = 0;  // index into proxies
  ComponentRef search;
  ParamValues search_budget;  // max_evaluations, time_limit_s
  ParamValues space;          // the architecture space (search_space.hpp)
  ParamValues constraints;
  ParamValues output;
  ParamValues study;     // `tracenas study` (study_schema())
  ParamValues recovery;  // recovery training after `tracenas run` (recovery_schema())

  BatchSpec batch_spec() const;
  // How the traced passes run (micro-batches, attention, loss chunks).
  PassOptions pass_options() const;
  RunContext run_context() const;  // run_dir and cache_dir as the run will use them
  std::string run_dir() const;     // <output_dir>/<name>
  // The resolved pipeline (every default filled in) as YAML text.
  std::string resolved_yaml() const;
};

// A parsed pipeline file with overrides applied, not yet validated.
class PipelineSource {
 public:
  // Reads and parses `file` and applies `overrides` ("dotted.path=value").
  // Throws ConfigError on unreadable files, YAML syntax errors and bad overrides.
  PipelineSource(const std::string& file, const std::vector<std::string>& overrides);
  ~PipelineSource();
  PipelineSource(PipelineSource&&) noexcept;

  // plugins.search_paths, validated and resolved (needed before plugins load).
  std::vector<std::string> plugin_search_paths() const;
  // Full validation against the core schema and the registry's components.
  Pipeline validate(const Registry& registry) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The schemas of the core sections (for `tracenas plugins` and docs).
const ParamSchema& run_schema();
const ParamSchema& plugins_schema();
const ParamSchema& data_batch_schema();
const ParamSchema& search_budget_schema();
const ParamSchema& space_schema();
const ParamSchema& constraints_schema();
const ParamSchema& output_schema();
const ParamSchema& study_schema();
const ParamSchema& recovery_schema();

// Reads `file` with the `--set` overrides `sets`, discovers the plugins it
// names (plugins.search_paths) in `registry` and validates it.
Pipeline load_pipeline(const std::string& file, const std::vector<std::string>& sets,
                       Registry& registry);

}  // namespace tracenas
