// Out-of-line key functions of the interfaces, so their vtables and typeinfos
// live in libtracenas_core.so only (one typeinfo across every plugin).
#include "tracenas/arch.hpp"
#include "tracenas/component.hpp"
#include "tracenas/data.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/model.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/search.hpp"
#include "tracenas/tokenizer.hpp"

namespace tracenas {

Component::~Component() = default;
Registrar::~Registrar() = default;
ModelAdapter::~ModelAdapter() = default;
DataSource::~DataSource() = default;
Tokenizer::~Tokenizer() = default;
ImportanceCriterion::~ImportanceCriterion() = default;
Proxy::~Proxy() = default;
SearchSpace::~SearchSpace() = default;
SearchStrategy::~SearchStrategy() = default;

TraceNeeds& TraceNeeds::operator|=(const TraceNeeds& o) {
  loss = loss || o.loss;
  weight_grads = weight_grads || o.weight_grads;
  base_weight_grads = base_weight_grads || o.base_weight_grads;
  grad_moments = grad_moments || o.grad_moments;
  if (o.sketch_rank > sketch_rank) {
    sketch_rank = o.sketch_rank;
    sketch_seed = o.sketch_seed;
  }
  if (o.lora_rank > lora_rank) {
    lora_rank = o.lora_rank;
    lora_seed = o.lora_seed;
    lora_alpha = o.lora_alpha;
  }
  logits = logits || o.logits;
  base_logits = base_logits || o.base_logits;
  output_grams = output_grams || o.output_grams;
  gate_kernel = gate_kernel || o.gate_kernel;
  synflow = synflow || o.synflow;
  return *this;
}

const char* to_string(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::kModel:
      return "model adapter";
    case ComponentKind::kData:
      return "data source";
    case ComponentKind::kTokenizer:
      return "tokenizer";
    case ComponentKind::kImportance:
      return "importance criterion";
    case ComponentKind::kProxy:
      return "proxy";
    case ComponentKind::kSearch:
      return "search strategy";
  }
  return "component";
}

const char* kind_key(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::kModel:
      return "model";
    case ComponentKind::kData:
      return "data";
    case ComponentKind::kTokenizer:
      return "tokenizer";
    case ComponentKind::kImportance:
      return "importance";
    case ComponentKind::kProxy:
      return "proxy";
    case ComponentKind::kSearch:
      return "search";
  }
  return "component";
}

const std::vector<ComponentKind>& all_component_kinds() {
  static const std::vector<ComponentKind> kinds = {
      ComponentKind::kModel,      ComponentKind::kData,  ComponentKind::kTokenizer,
      ComponentKind::kImportance, ComponentKind::kProxy, ComponentKind::kSearch};
  return kinds;
}

}  // namespace tracenas
