#include "search/search_space.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "base/util.hpp"
#include "tracenas/error.hpp"

namespace tracenas {
namespace {

constexpr std::int64_t kNoMax = std::numeric_limits<std::int64_t>::max();
// Restarts of the constructor's search for a feasible genome.
constexpr int kFeasibleRestarts = 64;
constexpr std::uint64_t kFeasibleSeed = 0x7ace5eedULL;

using Metrics = ArchSpace::Metrics;

Metrics operator+(Metrics a, const Metrics& b) {
  a.params += b.params;
  a.flops += b.flops;
  a.kv += b.kv;
  a.kept_layers += b.kept_layers;
  return a;
}

Metrics operator-(Metrics a, const Metrics& b) {
  a.params -= b.params;
  a.flops -= b.flops;
  a.kv -= b.kv;
  a.kept_layers -= b.kept_layers;
  return a;
}

std::string num(std::int64_t v) { return std::to_string(v); }

std::string num(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

int to_int(std::int64_t v) {
  return static_cast<int>(std::clamp<std::int64_t>(v, std::numeric_limits<int>::min(),
                                                   std::numeric_limits<int>::max()));
}

// The nearest index of `value` in an ascending list (ties: the larger value).
std::int64_t nearest_index(const std::vector<int>& values, int value) {
  const auto it = std::lower_bound(values.begin(), values.end(), value);
  if (it == values.end()) return static_cast<std::int64_t>(values.size()) - 1;
  if (it == values.begin() || *it - value <= value - *(it - 1)) return it - values.begin();
  return it - values.begin() - 1;
}

// A uniform draw from lo..hi (spans far below 2^32: the bias is negligible).
std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
  return lo + static_cast<std::int64_t>(((rng() >> 32) * span) >> 32);
}

// A pipeline count: <= 1 a fraction of `base`, above 1 a count.
long double resolve(double value, std::int64_t base) {
  return value <= 1 ? static_cast<long double>(value) * base : static_cast<long double>(value);
}

std::int64_t ceil_count(long double v) {
  if (v <= 0) return 0;
  return static_cast<std::int64_t>(std::ceil(v - 1e-6L));
}

std::int64_t floor_count(long double v) {
  if (v <= 0) return 0;
  if (v >= static_cast<long double>(kNoMax)) return kNoMax;
  return static_cast<std::int64_t>(std::floor(v + 1e-6L));
}

std::int64_t embedding_params(const ModelConfig& base) {
  const std::int64_t emb = static_cast<std::int64_t>(base.vocab_size) * base.hidden_size;
  return base.tie_word_embeddings ? emb : 2 * emb;
}

}  // namespace

const char* to_string(Rejection r) {
  switch (r) {
    case Rejection::kNone:
      return "none";
    case Rejection::kOutOfSpace:
      return "out_of_space";
    case Rejection::kMinLayers:
      return "min_layers";
    case Rejection::kParamsLow:
      return "params_low";
    case Rejection::kParamsHigh:
      return "params_high";
    case Rejection::kFlops:
      return "flops";
    case Rejection::kKvCache:
      return "kv_cache";
  }
  return "unknown";
}

SpaceOptions SpaceOptions::from_params(const ParamValues& space, const ModelConfig& base) {
  SpaceOptions o;
  const int L = base.num_layers;
  if (space.has("depth")) {
    const std::string& d = space.get_string("depth");
    if (d == "layer") {
      o.depth = DepthMode::kLayer;
    } else if (d == "block") {
      o.depth = DepthMode::kBlock;
    } else if (d == "none") {
      o.depth = DepthMode::kNone;
    } else {
      throw ConfigError("space.depth: expected layer, block or none (got " + quote(d) + ")");
    }
  }
  if (space.has("min_layers")) o.min_layers = to_int(space.get_int("min_layers"));
  if (space.has("protected_layers")) {
    for (std::int64_t p : space.get_int_list("protected_layers")) {
      const std::int64_t resolved = p < 0 ? p + L : p;
      if (resolved < 0 || resolved >= L) {
        throw ConfigError("space.protected_layers: layer " + num(p) +
                          " is out of range for a model of " + std::to_string(L) +
                          " layers (use 0.." + std::to_string(L - 1) + ", or -" +
                          std::to_string(L) + "..-1 from the end)");
      }
      o.protected_layers.push_back(static_cast<int>(resolved));
    }
    std::sort(o.protected_layers.begin(), o.protected_layers.end());
    o.protected_layers.erase(std::unique(o.protected_layers.begin(), o.protected_layers.end()),
                             o.protected_layers.end());
  }
  if (space.has("depth_from")) {
    const double v = space.get_float("depth_from");
    if (!(v >= 0)) {
      throw ConfigError("space.depth_from: must be >= 0 (got " + num(v) + ")");
    }
    if (v < 1) {
      o.depth_from = static_cast<int>(std::floor(v * L + 1e-9));
    } else {
      if (v != std::floor(v)) {
        throw ConfigError("space.depth_from: from 1 on a layer index, which must be whole (got " +
                          num(v) + ")");
      }
      o.depth_from = v > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                         : static_cast<int>(v);
    }
  }
  if (space.has("query_heads")) {
    const double q = space.get_float("query_heads");
    if (!(q >= 0) || (q >= 1 && q != std::floor(q)) || q > base.num_heads) {
      throw ConfigError(
          "space.query_heads: must be 0, a fraction in (0, 1) or a whole count up to " +
          std::to_string(base.num_heads) + " (got " + num(q) + ")");
    }
    o.query_heads = q < 1 ? std::max(1, static_cast<int>(std::lround(q * base.num_heads)))
                          : static_cast<int>(q);
    if (q == 0) o.query_heads = 0;
  }
  if (space.has("width")) o.width = space.get_bool("width");
  if (space.has("heads_step")) o.heads_step = to_int(space.get_int("heads_step"));
  if (space.has("min_heads_per_group")) {
    o.min_heads_per_group = to_int(space.get_int("min_heads_per_group"));
  }
  if (space.has("remove_kv_groups")) o.remove_kv_groups = space.get_bool("remove_kv_groups");
  if (space.has("min_kv_heads")) o.min_kv_heads = to_int(space.get_int("min_kv_heads"));
  if (space.has("mlp_align")) o.mlp_align = to_int(space.get_int("mlp_align"));
  if (space.has("mlp_min_fraction")) o.mlp_min_fraction = space.get_float("mlp_min_fraction");
  return o;
}

Constraints Constraints::from_params(const ParamValues& constraints, const ModelConfig& base,
                                     int dtype_bytes, int seq_len) {
  Constraints c;
  c.dtype_bytes = dtype_bytes;
  c.seq_len = seq_len;
  if (constraints.has("params_scope")) {
    const std::string& scope = constraints.get_string("params_scope");
    if (scope == "non_embedding") {
      c.non_embedding = true;
    } else if (scope != "total") {
      throw ConfigError("constraints.params_scope: expected total or non_embedding (got " +
                        quote(scope) + ")");
    }
  }
  std::int64_t in_scope = count_params(base, full_arch(base));
  if (c.non_embedding) in_scope -= embedding_params(base);

  if (constraints.has("target_params")) {
    const long double target = resolve(constraints.get_float("target_params"), in_scope);
    const double tol_value =
        constraints.has("tolerance") ? constraints.get_float("tolerance") : 0.01;
    const long double tolerance = resolve(tol_value, in_scope);
    c.from_target = true;
    c.min_params = ceil_count(target - tolerance);
    c.max_params = floor_count(target + tolerance);
  } else {
    if (constraints.has("min_params")) {
      c.min_params = ceil_count(resolve(constraints.get_float("min_params"), in_scope));
    }
    if (constraints.has("max_params")) {
      c.max_params = floor_count(resolve(constraints.get_float("max_params"), in_scope));
    }
  }
  if (constraints.has("max_flops_per_token")) {
    c.max_flops_per_token = constraints.get_float("max_flops_per_token");
  }
  if (constraints.has("max_kv_cache_bytes_per_token")) {
    c.max_kv_cache_bytes_per_token = constraints.get_float("max_kv_cache_bytes_per_token");
  }
  return c;
}

ArchSpace::ArchSpace(const ModelConfig& base, SpaceOptions options, Constraints constraints)
    : base_(base), options_(std::move(options)), constraints_(constraints) {
  const int L = base_.num_layers, H = base_.num_heads, G = base_.num_kv_heads;
  const int I = base_.intermediate_size;
  if (!base_.layer_widths.empty()) {
    throw ConfigError(
        "model: the search space applies to unpruned models; this model was "
        "already pruned to per-layer widths (config.json tracenas_layers)");
  }
  if (L < 1 || H < 1 || G < 1 || H % G != 0 || I < 1 || base_.head_dim < 1 ||
      base_.hidden_size < 1) {
    throw ConfigError("model: cannot build a search space for a model with " + std::to_string(L) +
                      " layers, " + std::to_string(H) + " heads, " + std::to_string(G) +
                      " KV heads and MLP width " + std::to_string(I));
  }
  check_options();
  build_widths();
  build_genes();
  build_metric_tables();
  check_constraints();
  find_feasible();
}

// The space options against the base model (ConfigError naming the key).
void ArchSpace::check_options() {
  const SpaceOptions& o = options_;
  const int L = base_.num_layers, G = base_.num_kv_heads;
  const int per_group = base_.num_heads / G;
  if (o.min_layers < 0 || o.min_layers > L) {
    throw ConfigError("space.min_layers: " + std::to_string(o.min_layers) + " is outside 0.." +
                      std::to_string(L) + " (the model has " + std::to_string(L) + " layers)");
  }
  for (int p : o.protected_layers) {
    if (p < 0 || p >= L) {
      throw ConfigError("space.protected_layers: layer " + std::to_string(p) +
                        " is out of range 0.." + std::to_string(L - 1));
    }
  }
  if (o.depth_from < 0 || (o.depth != DepthMode::kNone && o.depth_from >= L)) {
    throw ConfigError("space.depth_from: " + std::to_string(o.depth_from) +
                      " leaves no layer whose depth may change (the model has " +
                      std::to_string(L) + " layers, 0.." + std::to_string(L - 1) + ")");
  }
  if (o.width) {
    if (o.heads_step < 1) {
      throw ConfigError("space.heads_step: must be >= 1 (got " + std::to_string(o.heads_step) +
                        ")");
    }
    if (o.min_heads_per_group < 1 || o.min_heads_per_group > per_group) {
      throw ConfigError("space.min_heads_per_group: " + std::to_string(o.min_heads_per_group) +
                        " is outside 1.." + std::to_string(per_group) + " (the base has " +
                        std::to_string(per_group) + " query heads per KV group)");
    }
    if (o.query_heads > 0 && kv_choices(o, G, per_group).empty()) {
      throw ConfigError("space.query_heads: no KV head count g (" +
                        std::string(o.remove_kv_groups ? "min_kv_heads.." : "") +
                        std::to_string(G) + ") divides " + std::to_string(o.query_heads) +
                        " with at most " + std::to_string(per_group) +
                        " query heads per group (the base has " + std::to_string(base_.num_heads) +
                        " query heads in " + std::to_string(G) + " KV groups)");
    }
    if (o.remove_kv_groups && (o.min_kv_heads < 1 || o.min_kv_heads > G)) {
      throw ConfigError("space.min_kv_heads: " + std::to_string(o.min_kv_heads) +
                        " is outside 1.." + std::to_string(G) + " (the base has " +
                        std::to_string(G) + " KV heads)");
    }
    if (o.mlp_align < 1) {
      throw ConfigError("space.mlp_align: must be >= 1 (got " + std::to_string(o.mlp_align) + ")");
    }
    if (!(o.mlp_min_fraction >= 0 && o.mlp_min_fraction <= 1)) {
      throw ConfigError("space.mlp_min_fraction: must be in 0..1 (got " + num(o.mlp_min_fraction) +
                        ")");
    }
  }
}

// With query_heads Q: the KV head counts g (from min_kv_heads with
// remove_kv_groups, else only G) that divide Q with Q / g <= the base's heads
// per group, ascending.
std::vector<int> ArchSpace::kv_choices(const SpaceOptions& o, int G, int per_group) {
  std::vector<int> out;
  for (int g = o.remove_kv_groups ? std::max(1, o.min_kv_heads) : G; g <= G; ++g) {
    if (o.query_heads % g == 0 && o.query_heads / g <= per_group) out.push_back(g);
  }
  return out;
}

int ArchSpace::heads_of(int kv, int heads_per_group) const {
  return options_.width && options_.query_heads > 0 ? options_.query_heads : kv * heads_per_group;
}

// The allowed KV heads, query heads per group and MLP widths of a layer.
void ArchSpace::build_widths() {
  const SpaceOptions& o = options_;
  const int G = base_.num_kv_heads, I = base_.intermediate_size;
  const int per_group = base_.num_heads / G;
  if (o.width && o.query_heads > 0) {
    // Every kept attention keeps query_heads query heads: the KV head count
    // is the gene, the heads per group follow from it.
    kv_values_ = kv_choices(o, G, per_group);
  } else if (o.width && o.remove_kv_groups) {
    for (int k = o.min_kv_heads; k <= G; ++k) kv_values_.push_back(k);
  } else {
    kv_values_ = {G};
  }
  if (o.width && o.query_heads > 0) {
    heads_values_ = {0};  // unused: heads_of() gives query_heads
    const std::int64_t a = o.mlp_align;
    std::int64_t lo = static_cast<std::int64_t>(std::ceil(o.mlp_min_fraction * I - 1e-9));
    lo = std::max<std::int64_t>((lo + a - 1) / a * a, a);
    for (std::int64_t v = lo; v < I; v += a) mlp_values_.push_back(static_cast<int>(v));
    mlp_values_.push_back(I);
  } else if (o.width) {
    for (int h = per_group; h >= o.min_heads_per_group; h -= o.heads_step) {
      heads_values_.push_back(h);
    }
    std::reverse(heads_values_.begin(), heads_values_.end());
    const std::int64_t a = o.mlp_align;
    std::int64_t lo = static_cast<std::int64_t>(std::ceil(o.mlp_min_fraction * I - 1e-9));
    lo = std::max<std::int64_t>((lo + a - 1) / a * a, a);
    for (std::int64_t v = lo; v < I; v += a) mlp_values_.push_back(static_cast<int>(v));
    mlp_values_.push_back(I);
  } else {
    heads_values_ = {per_group};
    mlp_values_ = {I};
  }
}

// The gene layout: depth genes of the editable layers, then width genes.
void ArchSpace::build_genes() {
  const SpaceOptions& o = options_;
  const int L = base_.num_layers;
  editable_.assign(L, false);
  layer_genes_.assign(L, LayerGenes{});
  auto add_gene = [&](GeneKind kind, int layer, std::int64_t upper) {
    genes_.push_back(GeneInfo{kind, layer});
    lower_.push_back(0);
    upper_.push_back(upper);
    return static_cast<int>(genes_.size()) - 1;
  };
  for (int l = 0; l < L; ++l) {
    const bool is_protected = std::find(o.protected_layers.begin(), o.protected_layers.end(), l) !=
                              o.protected_layers.end();
    editable_[l] = o.depth != DepthMode::kNone && l >= o.depth_from && !is_protected;
    LayerGenes& lg = layer_genes_[l];
    if (editable_[l]) {
      if (o.depth == DepthMode::kLayer) {
        lg.keep = add_gene(GeneKind::kLayer, l, 1);
      } else {
        lg.keep_attn = add_gene(GeneKind::kAttn, l, 1);
        lg.keep_mlp = add_gene(GeneKind::kMlpBlock, l, 1);
      }
    }
    if (kv_values_.size() > 1) lg.kv = add_gene(GeneKind::kKvHeads, l, kv_values_.size() - 1);
    if (heads_values_.size() > 1) {
      lg.heads = add_gene(GeneKind::kHeads, l, heads_values_.size() - 1);
    }
    if (mlp_values_.size() > 1) lg.mlp = add_gene(GeneKind::kMlp, l, mlp_values_.size() - 1);
  }
}

void ArchSpace::build_metric_tables() {
  // Metric tables: the fixed part and one layer's blocks, from the same
  // formulas as scoped_params/flops_per_token/kv_cache_bytes_per_token.
  auto arch_metrics = [&](const Arch& a) {
    Metrics m;
    m.params = scoped_params(a);
    m.flops = flops_per_token(a);
    m.kv = kv_cache_bytes_per_token(a);
    return m;
  };
  fixed_ = arch_metrics(Arch{});
  for (int kv : kv_values_) {
    for (int h : heads_values_) {
      LayerArch la;
      la.heads = heads_of(kv, h);
      la.kv_heads = kv;
      la.mlp = false;
      attn_table_.push_back(arch_metrics(Arch{{la}}) - fixed_);
    }
  }
  for (int ch : mlp_values_) {
    LayerArch la;
    la.attn = false;
    la.mlp = true;
    la.mlp_channels = ch;
    mlp_table_.push_back(arch_metrics(Arch{{la}}) - fixed_);
  }
  full_ = metrics(upper_);
}

void ArchSpace::check_constraints() {
  // Constraints every architecture of the space misses.
  Constraints& c = constraints_;
  const std::string what = c.non_embedding ? "non-embedding parameters" : "parameters";
  const std::string min_field =
      c.from_target ? "constraints.target_params" : "constraints.min_params";
  const std::string max_field =
      c.from_target ? "constraints.target_params" : "constraints.max_params";
  if (c.min_params > c.max_params) {
    if (c.from_target) {
      const std::string field = "constraints.tolerance";
      throw ConfigError(field + ": target_params +/- tolerance holds no whole count of " + what +
                        " (" + num(c.min_params) + " > " + num(c.max_params) + ")");
    }
    throw ConfigError("constraints.min_params: " + num(c.min_params) + " is above max_params " +
                      num(c.max_params) + " once fractions are resolved against the base's " +
                      num(full_.params) + " " + what);
  }
  Metrics smallest;
  {
    const Metrics a = metrics(smallest_genome(true)), b = metrics(smallest_genome(false));
    smallest.params = std::min(a.params, b.params);
    smallest.flops = std::min(a.flops, b.flops);
    smallest.kv = std::min(a.kv, b.kv);
  }
  if (c.max_params < smallest.params) {
    throw ConfigError(max_field + ": no architecture of the space has at most " +
                      num(c.max_params) + " " + what + " (the smallest has " +
                      num(smallest.params) + ")");
  }
  if (c.min_params > full_.params) {
    throw ConfigError(min_field + ": no architecture of the space has at least " +
                      num(c.min_params) + " " + what + " (the largest has " + num(full_.params) +
                      ")");
  }
  if (c.max_flops_per_token > 0 && c.max_flops_per_token < smallest.flops) {
    const std::string field = "constraints.max_flops_per_token";
    throw ConfigError(field + ": no architecture of the space needs at most " +
                      num(c.max_flops_per_token) + " FLOPs per token (the smallest needs " +
                      num(smallest.flops) + ")");
  }
  if (c.max_kv_cache_bytes_per_token > 0 && c.max_kv_cache_bytes_per_token < smallest.kv) {
    const std::string field = "constraints.max_kv_cache_bytes_per_token";
    throw ConfigError(field + ": no architecture of the space caches at most " +
                      num(c.max_kv_cache_bytes_per_token) + " bytes per token (the smallest " +
                      "caches " + num(smallest.kv) + ")");
  }
}

bool ArchSpace::editable(int layer) const {
  return layer >= 0 && layer < static_cast<int>(editable_.size()) && editable_[layer];
}

Genome ArchSpace::smallest_genome(bool attn) const {
  Genome g = lower_;
  int kept = 0;
  for (int l = 0; l < base_.num_layers; ++l) kept += editable_[l] ? 0 : 1;
  for (int l = 0; l < base_.num_layers && kept < options_.min_layers; ++l) {
    if (!editable_[l]) continue;
    const LayerGenes& lg = layer_genes_[l];
    if (lg.keep >= 0) g[lg.keep] = 1;
    if (lg.keep_attn >= 0) g[attn ? lg.keep_attn : lg.keep_mlp] = 1;
    ++kept;
  }
  return g;
}

void ArchSpace::find_feasible() {
  Metrics nearest;
  double nearest_violation = std::numeric_limits<double>::infinity();
  auto consider = [&](const Genome& g) {
    const Metrics m = metrics(g);
    if (check_metrics(m) == Rejection::kNone) {
      feasible_example_ = g;
      return true;
    }
    if (m.kept_layers >= options_.min_layers && violation(m) < nearest_violation) {
      nearest_violation = violation(m);
      nearest = m;
    }
    return false;
  };
  if (consider(repair(upper_)) || consider(repair(smallest_genome(true))) ||
      consider(repair(smallest_genome(false)))) {
    return;
  }
  std::mt19937_64 rng(kFeasibleSeed);
  Genome g(dims());
  for (int t = 0; t < kFeasibleRestarts; ++t) {
    draw(g, rng);
    if (consider(g) || consider(repair(g))) return;
  }
  for (int t = 0; t < kSampleTries; ++t) {
    if (draw_feasible(g, rng)) {
      feasible_example_ = g;
      return;
    }
  }

  const Constraints& c = constraints_;
  const std::string what = c.non_embedding ? "non-embedding parameters" : "parameters";
  std::string window;
  if (c.min_params > 0 && c.max_params < kNoMax) {
    window = "between " + num(c.min_params) + " and " + num(c.max_params) + " " + what;
  } else if (c.max_params < kNoMax) {
    window = "at most " + num(c.max_params) + " " + what;
  } else if (c.min_params > 0) {
    window = "at least " + num(c.min_params) + " " + what;
  } else {
    window = "any number of " + what;
  }
  if (c.max_flops_per_token > 0) {
    window += ", at most " + num(c.max_flops_per_token) + " FLOPs per token";
  }
  if (c.max_kv_cache_bytes_per_token > 0) {
    window += ", at most " + num(c.max_kv_cache_bytes_per_token) + " KV-cache bytes per token";
  }
  std::string near;
  if (std::isfinite(nearest_violation)) {
    near = "the nearest found has " + num(nearest.params) + " " + what + ", " + num(nearest.flops) +
           " FLOPs and " + num(nearest.kv) + " KV-cache bytes per token; ";
  }
  std::string hint = "widen the window";
  if (c.max_flops_per_token > 0 || c.max_kv_cache_bytes_per_token > 0) hint += " or the limits";
  if (options_.width) hint += ", or allow finer widths (space.mlp_align, space.heads_step)";
  throw ConfigError("constraints: no architecture of the space has " + window + " (" + near + hint +
                    ")");
}

int ArchSpace::dims() const { return static_cast<int>(genes_.size()); }
const Genome& ArchSpace::lower() const { return lower_; }
const Genome& ArchSpace::upper() const { return upper_; }
const std::vector<GeneInfo>& ArchSpace::genes() const { return genes_; }

void ArchSpace::require_size(const Genome& genome, const char* what) const {
  if (genome.size() != genes_.size()) {
    throw Error(std::string(what) + ": the genome has " + std::to_string(genome.size()) +
                " genes, the search space has " + std::to_string(genes_.size()));
  }
}

bool ArchSpace::in_box(const Genome& genome) const {
  if (genome.size() != genes_.size()) return false;
  for (std::size_t i = 0; i < genome.size(); ++i) {
    if (genome[i] < lower_[i] || genome[i] > upper_[i]) return false;
  }
  return true;
}

Metrics ArchSpace::layer_metrics(const Genome& g, int layer) const {
  const LayerGenes& lg = layer_genes_[layer];
  auto gene = [&](int i, std::int64_t upper_value) {
    if (i < 0) return upper_value;
    return std::clamp(g[i], lower_[i], upper_[i]);
  };
  const bool layer_on = gene(lg.keep, 1) > 0;
  const bool attn = layer_on && gene(lg.keep_attn, 1) > 0;
  const bool mlp = layer_on && gene(lg.keep_mlp, 1) > 0;
  Metrics m;
  if (attn) {
    const std::int64_t kv = gene(lg.kv, 0), h = gene(lg.heads, 0);
    m = m + attn_table_[kv * heads_values_.size() + h];
  }
  if (mlp) m = m + mlp_table_[gene(lg.mlp, 0)];
  m.kept_layers = attn || mlp ? 1 : 0;
  return m;
}

Metrics ArchSpace::metrics(const Genome& g) const {
  Metrics m = fixed_;
  for (int l = 0; l < base_.num_layers; ++l) m = m + layer_metrics(g, l);
  return m;
}

Rejection ArchSpace::check_metrics(const Metrics& m) const {
  if (m.kept_layers < options_.min_layers) return Rejection::kMinLayers;
  if (m.params < constraints_.min_params) return Rejection::kParamsLow;
  if (m.params > constraints_.max_params) return Rejection::kParamsHigh;
  if (constraints_.max_flops_per_token > 0 && m.flops > constraints_.max_flops_per_token) {
    return Rejection::kFlops;
  }
  if (constraints_.max_kv_cache_bytes_per_token > 0 &&
      m.kv > constraints_.max_kv_cache_bytes_per_token) {
    return Rejection::kKvCache;
  }
  return Rejection::kNone;
}

double ArchSpace::violation(const Metrics& m) const {
  const Constraints& c = constraints_;
  double v = 0;
  const double p_scale = std::max<double>(1.0, static_cast<double>(full_.params));
  if (m.params < c.min_params) v += static_cast<double>(c.min_params - m.params) / p_scale;
  if (m.params > c.max_params) v += static_cast<double>(m.params - c.max_params) / p_scale;
  if (c.max_flops_per_token > 0 && m.flops > c.max_flops_per_token) {
    v += (m.flops - c.max_flops_per_token) / std::max(1.0, full_.flops);
  }
  if (c.max_kv_cache_bytes_per_token > 0 && m.kv > c.max_kv_cache_bytes_per_token) {
    v += (m.kv - c.max_kv_cache_bytes_per_token) / std::max(1.0, full_.kv);
  }
  return v;
}

Rejection ArchSpace::check(const Genome& genome) const {
  if (!in_box(genome)) return Rejection::kOutOfSpace;
  return check_metrics(metrics(genome));
}

bool ArchSpace::feasible(const Genome& genome) const { return check(genome) == Rejection::kNone; }

Arch ArchSpace::decode(const Genome& genome) const {
  require_size(genome, "decode");
  Arch arch;
  for (int l = 0; l < base_.num_layers; ++l) {
    const LayerGenes& lg = layer_genes_[l];
    auto gene = [&](int i, std::int64_t absent) {
      return i < 0 ? absent : std::clamp(genome[i], lower_[i], upper_[i]);
    };
    const bool layer_on = gene(lg.keep, 1) > 0;
    LayerArch la;
    la.attn = layer_on && gene(lg.keep_attn, 1) > 0;
    la.mlp = layer_on && gene(lg.keep_mlp, 1) > 0;
    if (la.attn) {
      la.kv_heads = kv_values_[gene(lg.kv, 0)];
      la.heads = heads_of(la.kv_heads, heads_values_[gene(lg.heads, 0)]);
    }
    if (la.mlp) la.mlp_channels = mlp_values_[gene(lg.mlp, 0)];
    arch.layers.push_back(la);
  }
  return arch;
}

Genome ArchSpace::encode(const Arch& arch) const {
  validate_arch(arch, base_, "encode");
  Genome g = upper_;
  for (int l = 0; l < base_.num_layers; ++l) {
    const LayerArch& la = arch.layers[l];
    const LayerGenes& lg = layer_genes_[l];
    if (lg.keep >= 0) g[lg.keep] = la.attn || la.mlp ? 1 : 0;
    if (lg.keep_attn >= 0) g[lg.keep_attn] = la.attn ? 1 : 0;
    if (lg.keep_mlp >= 0) g[lg.keep_mlp] = la.mlp ? 1 : 0;
    if (la.attn) {
      if (lg.kv >= 0) g[lg.kv] = nearest_index(kv_values_, la.kv_heads);
      if (lg.heads >= 0) g[lg.heads] = nearest_index(heads_values_, la.heads / la.kv_heads);
    }
    if (la.mlp && lg.mlp >= 0) g[lg.mlp] = nearest_index(mlp_values_, la.mlp_channels);
  }
  return g;
}

std::int64_t ArchSpace::params(const Genome& genome) const {
  return count_params(base_, decode(genome));
}

std::int64_t ArchSpace::scoped_params(const Arch& arch) const {
  std::int64_t n = count_params(base_, arch);
  if (constraints_.non_embedding) n -= embedding_params(base_);
  return n;
}

double ArchSpace::flops_per_token(const Arch& arch) const {
  const double d = base_.hidden_size, h = base_.head_dim;
  double weights = static_cast<double>(base_.vocab_size) * d;  // LM head
  double attention = 0;
  for (const LayerArch& l : arch.layers) {
    if (l.attn) {
      weights += 2.0 * l.heads * h * d + 2.0 * l.kv_heads * h * d;  // q, o; k, v
      attention += 4.0 * l.heads * h * constraints_.seq_len;
    }
    if (l.mlp) weights += 3.0 * l.mlp_channels * d;
  }
  return 2.0 * weights + attention;
}

double ArchSpace::kv_cache_bytes_per_token(const Arch& arch) const {
  double bytes = 0;
  for (const LayerArch& l : arch.layers) {
    if (l.attn) bytes += 2.0 * l.kv_heads * base_.head_dim * constraints_.dtype_bytes;
  }
  return bytes;
}

void ArchSpace::draw(Genome& g, std::mt19937_64& rng) const {
  g.resize(genes_.size());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = uniform(rng, lower_[i], upper_[i]);
}

bool ArchSpace::draw_feasible(Genome& g, std::mt19937_64& rng) const {
  // Genes come layer by layer and every metric only grows with more layers, so
  // a draw is abandoned as soon as a limit is passed or the window is out of reach.
  g.resize(genes_.size());
  const Constraints& c = constraints_;
  const int L = base_.num_layers;
  const Metrics layer_max = attn_table_.back() + mlp_table_.back();
  Metrics m = fixed_;
  std::size_t i = 0;
  for (int l = 0; l < L; ++l) {
    for (; i < genes_.size() && genes_[i].layer == l; ++i)
      g[i] = uniform(rng, lower_[i], upper_[i]);
    m = m + layer_metrics(g, l);
    const int rest = L - 1 - l;
    if (m.params > c.max_params) return false;
    if (c.max_flops_per_token > 0 && m.flops > c.max_flops_per_token) return false;
    if (c.max_kv_cache_bytes_per_token > 0 && m.kv > c.max_kv_cache_bytes_per_token) return false;
    if (m.params + rest * layer_max.params < c.min_params) return false;
    if (m.kept_layers + rest < options_.min_layers) return false;
  }
  return true;
}

Genome ArchSpace::sample(std::mt19937_64& rng) const {
  Genome g;
  for (int t = 0; t < kSampleTries; ++t) {
    if (draw_feasible(g, rng)) return g;
  }
  draw(g, rng);
  Genome r = repair(g);
  if (feasible(r)) return r;
  return feasible_example_;
}

// One local search (clamp, restore min_layers, then best single or paired
// gene moves until the constraints hold). Its steps share the working genome
// and its per-layer metrics through the closures below; it stays one function
// so that state lives in one scope (about 180 lines).
Genome ArchSpace::repair(const Genome& genome) const {
  require_size(genome, "repair");
  const int L = base_.num_layers, D = dims();
  Genome g = genome;
  for (int i = 0; i < D; ++i) g[i] = std::clamp(g[i], lower_[i], upper_[i]);

  std::vector<Metrics> per_layer(L);
  Metrics total = fixed_;
  for (int l = 0; l < L; ++l) {
    per_layer[l] = layer_metrics(g, l);
    total = total + per_layer[l];
  }
  auto set_gene = [&](int i, std::int64_t value) {
    const int l = genes_[i].layer;
    g[i] = value;
    const Metrics m = layer_metrics(g, l);
    total = total - per_layer[l] + m;
    per_layer[l] = m;
  };
  // Totals after setting gene i to `value` (nothing changes).
  auto eval = [&](int i, std::int64_t value) {
    const int l = genes_[i].layer;
    const std::int64_t old = g[i];
    g[i] = value;
    const Metrics m = total - per_layer[l] + layer_metrics(g, l);
    g[i] = old;
    return m;
  };

  // min_layers: switch removed layers (blocks) back on, the least harmful first.
  while (total.kept_layers < options_.min_layers) {
    int best_gene = -1;
    double best_v = 0;
    for (int i = 0; i < D; ++i) {
      if (!genes_[i].is_depth() || g[i] != 0) continue;
      if (per_layer[genes_[i].layer].kept_layers > 0) continue;
      const double v = violation(eval(i, 1));
      if (best_gene < 0 || v < best_v) {
        best_gene = i;
        best_v = v;
      }
    }
    if (best_gene < 0) break;  // cannot happen: min_layers <= layers
    set_gene(best_gene, 1);
  }

  // Whether a gene currently matters (a width gene of a removed block does not).
  auto active = [&](int i) {
    const LayerGenes& lg = layer_genes_[genes_[i].layer];
    const auto on = [&](int k) { return k < 0 || g[k] > 0; };
    switch (genes_[i].kind) {
      case GeneKind::kKvHeads:
      case GeneKind::kHeads:
        return on(lg.keep) && on(lg.keep_attn);
      case GeneKind::kMlp:
        return on(lg.keep) && on(lg.keep_mlp);
      default:
        return true;
    }
  };
  const Constraints& c = constraints_;
  // Candidate values of gene i: one step, the box ends, and the indices where
  // the window is entered or a limit crossed (metrics grow with the index).
  auto candidates = [&](int i, std::vector<std::int64_t>& out) {
    out.clear();
    const std::int64_t cur = g[i], lo = lower_[i], hi = upper_[i];
    if (genes_[i].is_depth()) {
      out.push_back(1 - cur);
      return;
    }
    auto first_true = [&](auto pred) {
      std::int64_t a = lo, b = hi + 1;
      while (a < b) {
        const std::int64_t mid = a + (b - a) / 2;
        if (pred(eval(i, mid))) {
          b = mid;
        } else {
          a = mid + 1;
        }
      }
      return a;
    };
    std::vector<std::int64_t> raw = {cur - 1, cur + 1, lo, hi};
    if (c.min_params > 0) {
      const std::int64_t k = first_true([&](const Metrics& m) { return m.params >= c.min_params; });
      raw.push_back(k);
      raw.push_back(k - 1);
    }
    if (c.max_params < kNoMax) {
      raw.push_back(first_true([&](const Metrics& m) { return m.params > c.max_params; }) - 1);
    }
    if (c.max_flops_per_token > 0) {
      raw.push_back(first_true([&](const Metrics& m) { return m.flops > c.max_flops_per_token; }) -
                    1);
    }
    if (c.max_kv_cache_bytes_per_token > 0) {
      raw.push_back(
          first_true([&](const Metrics& m) { return m.kv > c.max_kv_cache_bytes_per_token; }) - 1);
    }
    for (std::int64_t v : raw) {
      if (v < lo || v > hi || v == cur) continue;
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    }
    std::sort(out.begin(), out.end());
  };

  struct Move {
    bool found = false, feasible = false;
    double violation = 0;
    std::int64_t dparams = 0;
    int gene = -1, gene2 = -1;
    std::int64_t value = 0, value2 = 0;
  };
  // A feasible move wins (the one changing the count least); else the lowest
  // violation. Earlier candidates win ties.
  std::int64_t start_params = 0;  // the count before the move under consideration
  auto offer = [&](Move& best, const Metrics& m, int gene, std::int64_t value, int gene2,
                   std::int64_t value2) {
    if (m.kept_layers < options_.min_layers) return;
    Move mv;
    mv.found = true;
    mv.violation = violation(m);
    mv.feasible = mv.violation == 0;
    mv.dparams = m.params > start_params ? m.params - start_params : start_params - m.params;
    mv.gene = gene;
    mv.value = value;
    mv.gene2 = gene2;
    mv.value2 = value2;
    bool better;
    if (!best.found) {
      better = true;
    } else if (mv.feasible != best.feasible) {
      better = mv.feasible;
    } else if (mv.feasible) {
      better = mv.dparams < best.dparams;
    } else {
      better = mv.violation < best.violation;
    }
    if (better) best = mv;
  };

  const int max_steps = 64 + 4 * D;
  std::vector<std::int64_t> values, values2;
  for (int step = 0; step < max_steps; ++step) {
    const double current = violation(total);
    if (current == 0) break;
    start_params = total.params;
    Move best;
    for (int i = 0; i < D; ++i) {
      if (!active(i)) continue;
      candidates(i, values);
      for (std::int64_t v : values) offer(best, eval(i, v), i, v, -1, 0);
    }
    const bool progress = best.found && (best.feasible || best.violation < current);
    if (!progress) {
      // Pairs: one step of gene i, then the best value of another gene j.
      best = Move{};
      for (int i = 0; i < D; ++i) {
        if (!active(i)) continue;
        const std::int64_t cur = g[i];
        for (std::int64_t v : {cur - 1, cur + 1}) {
          if (genes_[i].is_depth() && v != 1 - cur) continue;
          if (v < lower_[i] || v > upper_[i]) continue;
          set_gene(i, v);
          for (int j = 0; j < D; ++j) {
            if (j == i || !active(j)) continue;
            candidates(j, values2);
            for (std::int64_t w : values2) offer(best, eval(j, w), i, v, j, w);
          }
          set_gene(i, cur);
        }
      }
      if (!best.found || !(best.feasible || best.violation < current)) break;
      set_gene(best.gene, best.value);
      set_gene(best.gene2, best.value2);
    } else {
      set_gene(best.gene, best.value);
    }
  }
  return g;
}

}  // namespace tracenas
