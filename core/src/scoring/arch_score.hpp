// One architecture outside a search: the importance order of a loaded model
// under a criterion, and the proxies' scores of one architecture on one pass
// (SPEC.md section 5). What `tracenas importance` and `tracenas score` compute;
// the CLI only parses their options and prints the result.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/subnet.hpp"
#include "plugin/registry.hpp"
#include "scoring/trace.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

// The importance order of `model` under `criterion` on `batches` (each
// [batch, seq] token ids); every call into the criterion is guarded.
ImportanceOrder importance_of(const Registry& registry, const RunContext& run,
                              const DecoderModel& model, const std::vector<at::Tensor>& batches,
                              const std::string& criterion, const ParamValues& params = {});

// True when every kept block of `a` names its units (head_index, channel_index).
bool names_all_units(const Arch& a);

// An order that puts the selected units first (ascending), then the rest in
// `fallback` order (index order when null), so that the selection is the
// prefix of every layer.
ImportanceOrder selection_first(const ModelConfig& c, const std::vector<LayerSelection>& sel,
                                const ImportanceOrder* fallback);

struct NamedProxy {
  std::string label;
  Instance<Proxy> proxy;
};

struct ArchScore {
  std::int64_t params = 0;
  std::vector<std::pair<std::string, double>> values;  // label -> score, in proxy order
};

// Scores `arch` with every proxy on one pass. Units `arch` does not name are
// chosen by `criterion` on `batches`. Logs the memory plan of the passes first.
ArchScore score_arch(const Registry& registry, const RunContext& run, DecoderModel& model,
                     const Arch& arch, const std::vector<at::Tensor>& batches,
                     const std::string& criterion, const ParamValues& criterion_params,
                     const std::vector<NamedProxy>& proxies, const PassOptions& pass = {});

}  // namespace tracenas
