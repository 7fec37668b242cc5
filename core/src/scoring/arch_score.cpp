#include "scoring/arch_score.hpp"

#include "data/calibration.hpp"
#include "scoring/memory_plan.hpp"
#include "scoring/trace.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/log.hpp"

namespace tracenas {

ImportanceOrder importance_of(const Registry& registry, const RunContext& run,
                              const DecoderModel& model, const std::vector<at::Tensor>& batches,
                              const std::string& criterion, const ParamValues& params) {
  auto crit = registry.create<ImportanceCriterion>(criterion, params, run);
  bool needs = crit.call("needs_activation_norms",
                         [](ImportanceCriterion& c) { return c.needs_activation_norms(); });
  return compute_importance(model, batches, needs,
                            [&](const LayerImportanceInput& in) {
                              return crit.call("score",
                                               [&](ImportanceCriterion& c) { return c.score(in); });
                            })
      .order;
}

bool names_all_units(const Arch& a) {
  for (const auto& l : a.layers) {
    if ((l.attn && l.head_index.empty()) || (l.mlp && l.channel_index.empty())) return false;
  }
  return true;
}

ImportanceOrder selection_first(const ModelConfig& c, const std::vector<LayerSelection>& sel,
                                const ImportanceOrder* fallback) {
  ImportanceOrder out;
  for (std::size_t l = 0; l < sel.size(); ++l) {
    auto first = [](const std::vector<int>& chosen, int n, const std::vector<int>* rest) {
      std::vector<int> order = chosen;
      std::vector<bool> used(static_cast<std::size_t>(n), false);
      for (int i : chosen) used[static_cast<std::size_t>(i)] = true;
      std::vector<int> others;
      if (rest != nullptr) {
        others = *rest;
      } else {
        for (int i = 0; i < n; ++i) others.push_back(i);
      }
      for (int i : others) {
        if (!used[static_cast<std::size_t>(i)]) order.push_back(i);
      }
      return order;
    };
    const LayerOrder* fb = fallback != nullptr ? &(*fallback)[l] : nullptr;
    LayerOrder o;
    o.kv_order = first(sel[l].kv_heads, c.num_kv_heads, fb ? &fb->kv_order : nullptr);
    o.head_order = first(sel[l].heads, c.num_heads, fb ? &fb->head_order : nullptr);
    o.channel_order =
        first(sel[l].channels, c.intermediate_size, fb ? &fb->channel_order : nullptr);
    out.push_back(std::move(o));
  }
  return out;
}

// Scores `arch` with every proxy on one pass (SPEC.md section 5).
ArchScore score_arch(const Registry& registry, const RunContext& run, DecoderModel& model,
                     const Arch& arch, const std::vector<at::Tensor>& batches,
                     const std::string& criterion, const ParamValues& criterion_params,
                     const std::vector<NamedProxy>& proxies, const PassOptions& pass) {
  const ModelConfig& c = model.config();
  ImportanceOrder order;
  const bool explicit_all = names_all_units(arch);
  if (!explicit_all)
    order = importance_of(registry, run, model, batches, criterion, criterion_params);
  auto sel = select_units(c, arch, explicit_all ? nullptr : &order);
  PrefixWeights prefix(c, model.mutable_weights(),
                       selection_first(c, sel, explicit_all ? nullptr : &order));
  Arch widths = arch;
  for (auto& l : widths.layers) {
    l.head_index.clear();
    l.channel_index.clear();
  }
  TraceNeeds needs;
  needs.loss = true;
  for (const auto& p : proxies) {
    needs |= p.proxy.call("needs", [](Proxy& px) { return px.needs(); });
  }
  MemoryPlanInputs mp;
  mp.config = c;
  mp.dtype = dtype_name(model.dtype());
  mp.batch_size = batches.empty() ? 1 : batches.front().size(0);
  mp.seq_len = batches.empty() ? 2 : batches.front().size(1);
  mp.needs = needs;
  mp.pass = pass;
  const double embed =
      static_cast<double>(c.vocab_size) * c.hidden_size * (c.tie_word_embeddings ? 1 : 2);
  mp.candidate_fraction = (static_cast<double>(count_params(c, arch)) - embed) /
                          (static_cast<double>(count_params(c, full_arch(c))) - embed);
  std::string source;
  const double available = available_memory_bytes(model.device().str(), &source);
  log().info("memory plan on {}: {}; {} {}", model.device().str(), plan_memory(mp).summary(),
             source, available >= 0 ? gigabytes(available) : std::string("unknown"));
  BaseTraces base = compute_base_traces(c, prefix, batches, needs, pass);
  Trace trace = run_candidate_pass(c, prefix, widths, base, batches, needs, pass);
  Candidate cand;
  cand.arch = &arch;
  cand.base = &c;
  cand.params = count_params(c, arch);
  cand.base_params = count_params(c, full_arch(c));
  ArchScore out;
  out.params = cand.params;
  for (const auto& p : proxies) {
    const double v = p.proxy.call("score", [&](Proxy& px) { return px.score(cand, trace); });
    out.values.emplace_back(p.label, v);
    log().info("{} = {}", p.label, v);
  }
  return out;
}

}  // namespace tracenas
