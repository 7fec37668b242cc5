#include "run/study_run.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "base/append_log.hpp"
#include "base/util.hpp"
#include "data/calibration.hpp"
#include "io/svg_plot.hpp"
#include "model/adapters.hpp"
#include "model/subnet.hpp"
#include "pipeline/data_loading.hpp"
#include "pipeline/session.hpp"
#include "run/distributed.hpp"
#include "run/run_folder.hpp"
#include "search/engine.hpp"
#include "study/multiple_choice.hpp"
#include "study/study.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/cache.hpp"
#include "train/train.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct StudySettings {
  int n = 0;
  int n_strategy = 0;
  int max_draws = 0;
  int seq_len = 0;
  int eval_batch = 0;
  int resamples = 0;
  TrainOptions train;
};

StudySettings settings_of(const Pipeline& p, std::uint64_t seed) {
  const ParamValues& s = p.study;
  StudySettings r;
  r.n = static_cast<int>(s.get_int("architectures"));
  r.n_strategy = static_cast<int>(std::lround(s.get_float("strategy_share") * r.n));
  r.max_draws = static_cast<int>(s.get_int("max_draws"));
  if (r.max_draws == 0) r.max_draws = 200 * r.n;
  r.seq_len = static_cast<int>(s.get_int("seq_len"));
  if (r.seq_len == 0) r.seq_len = p.batch_spec().seq_len;
  r.eval_batch = static_cast<int>(s.get_int("eval_batch_size"));
  r.resamples = static_cast<int>(s.get_int("resamples"));
  r.train = train_options_from_params(s, r.seq_len);
  TrainOptions& t = r.train;
  t.shuffle = true;
  t.seed = seed;
  return r;
}

std::string too_small(const Pipeline& p, int found, int draws, int n) {
  return p.file + ": error: study.architectures: the constraint window admits only " +
         std::to_string(found) + " distinct architectures (found in " + std::to_string(draws) +
         " uniform draws); the study needs " + std::to_string(n) +
         " (lower study.architectures or widen the constraints)";
}

// A log line per architecture: study.jsonl, torn or unreadable lines dropped
// (and the file rewritten without them, so appends start on a fresh line).
std::map<int, json> read_study_log(const fs::path& path) {
  std::map<int, json> out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line, kept;
  bool dropped = false;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("index")) {
      dropped = dropped || !line.empty();
      continue;
    }
    out[j["index"].get<int>()] = j;
    kept += line + "\n";
  }
  if (!in.eof()) throw Error(path.string() + ": cannot read");
  if (dropped) {
    log().warn("{}: dropped an incomplete line (a run killed while writing it)", path.string());
    write_file_atomic(path.string(), kept);
  }
  return out;
}

double number_or_nan(const json& j) { return j.is_number() ? j.get<double>() : kNaN; }

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json coefficient_json(const Coefficient& c) {
  return {{"value", finite_or_null(c.value)},
          {"ci95", {finite_or_null(c.ci.low), finite_or_null(c.ci.high)}},
          {"resamples_used", c.ci.used}};
}

std::string file_name_of(const std::string& label) {
  std::string out;
  for (char ch : label) {
    out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')
               ? ch
               : '_';
  }
  return out.empty() ? "proxy" : out;
}

struct Planned {
  int index = 0;
  std::string origin;  // "uniform" | "strategy"
  Genome genome;
};

json plan_json(const std::vector<Planned>& plan) {
  json list = json::array();
  for (const Planned& a : plan) {
    list.push_back({{"index", a.index}, {"origin", a.origin}, {"genome", a.genome}});
  }
  return {{"architectures", list}};
}

std::vector<Planned> parse_plan(const json& j, const std::string& what, const ArchSpace& space,
                                int n);

std::vector<Planned> read_plan(const fs::path& path, const ArchSpace& space, int n) {
  std::ifstream in(path);
  return parse_plan(json::parse(in, nullptr, false), path.string() + ": ", space, n);
}

std::vector<Planned> parse_plan(const json& j, const std::string& what, const ArchSpace& space,
                                int n) {
  if (j.is_discarded() || !j.contains("architectures") || !j["architectures"].is_array()) {
    throw Error(what + "not a study architecture list (expected {\"architectures\": [...]})");
  }
  std::vector<Planned> plan;
  for (const json& a : j["architectures"]) {
    Planned pl;
    pl.index = a.value("index", -1);
    pl.origin = a.value("origin", "");
    if (a.contains("genome") && a["genome"].is_array()) pl.genome = a["genome"].get<Genome>();
    if (pl.index != static_cast<int>(plan.size()) ||
        static_cast<int>(pl.genome.size()) != space.dims() || !space.feasible(pl.genome)) {
      throw Error(what + "architecture " + std::to_string(plan.size()) +
                  " does not fit the pipeline's search space (was the pipeline changed?)");
    }
    plan.push_back(std::move(pl));
  }
  if (static_cast<int>(plan.size()) != n) {
    throw Error(what + "holds " + std::to_string(plan.size()) +
                " architectures, study.architectures is " + std::to_string(n));
  }
  return plan;
}

// The pipeline's search strategy, run for `evaluations` candidates in
// `dir` (resumed when its log exists): its valid candidates, best first.
std::vector<CandidateRecord> strategy_proposals(const Pipeline& p, const Registry& registry,
                                                const RunContext& run, Evaluator& evaluator,
                                                const ArchSpace& space, const fs::path& dir) {
  const std::int64_t own = p.study.get_int("proposal_evaluations");
  EngineOptions eo;
  eo.max_evaluations = own > 0 ? own : p.search_budget.get_int("max_evaluations");
  eo.time_limit_s = own > 0 ? 0.0 : p.search_budget.get_float("time_limit_s");
  eo.top_k = static_cast<int>(
      std::min<std::int64_t>(1 << 20, std::max<std::int64_t>(eo.max_evaluations, 1000)));
  eo.seed = run.seed;
  eo.run_dir = dir.string();
  fs::create_directories(dir);
  std::error_code ec;
  eo.resume = fs::file_size(Engine::log_path(dir.string()), ec) > 0 && !ec;
  eo.objective = p.objective;
  if (const std::int64_t ask = p.search_budget.get_int("ask_size"); ask > 0) {
    eo.ask_size = static_cast<int>(ask);
  }
  auto strategy = registry.create<SearchStrategy>(p.search.name, p.search.params, run);
  log().info("study: the {} strategy proposes from {} evaluations in {}", p.search.name,
             eo.max_evaluations, dir.string());
  Engine engine(evaluator, space, strategy, eo);
  return engine.run().top;
}

struct Split {
  std::vector<std::int32_t> train;
  std::vector<std::int32_t> eval;
  std::string train_name;
  std::string eval_name;
  bool tail_held_out = false;
  std::int64_t train_windows = 0;
  std::int64_t eval_windows = 0;
};

Split split_data(const Pipeline& p, const Registry& registry, const RunContext& run,
                 const PipelineSession& session, const StudySettings& st) {
  const ParamValues& s = p.study;
  Split out;
  TokenStream train = *section_tokens(p, s, "study", "train", true, registry, run,
                                      session.model_dir, out.train_name);
  const auto seq = static_cast<std::int64_t>(st.seq_len);
  const auto windows = static_cast<std::int64_t>(train.ids.size()) / seq;
  if (s.get_string("eval_data").empty()) {
    const double frac = s.get_float("eval_fraction");
    const auto held = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(std::ceil(frac * static_cast<double>(windows))));
    if (windows - held < st.train.batch) {
      throw ConfigError(p.file + ": error: study.eval_fraction: " + out.train_name + " holds " +
                        std::to_string(windows) + " windows of " + std::to_string(seq) +
                        " tokens; holding out " + std::to_string(held) + " leaves fewer than " +
                        "study.batch_size = " + std::to_string(st.train.batch) + " to train on");
    }
    out.train.assign(train.ids.begin(), train.ids.begin() + (windows - held) * seq);
    out.eval.assign(train.ids.begin() + (windows - held) * seq, train.ids.begin() + windows * seq);
    out.eval_name = "the last " + std::to_string(held) + " windows of " + out.train_name;
    out.tail_held_out = true;
    const BatchSpec b = p.batch_spec();
    const bool same_source = s.get_string("train_data").empty();
    const std::int64_t calib_tokens =
        static_cast<std::int64_t>(b.num_batches) * b.batch_size * b.seq_len;
    if (same_source && (b.shuffle || calib_tokens > (windows - held) * seq)) {
      log().warn(
          "study: the calibration windows may overlap the held-out windows (data.shuffle "
          "or more calibration tokens than training tokens); the held-out loss is then "
          "not fully held out");
    }
  } else {
    out.train = std::move(train.ids);
    out.eval = section_tokens(p, s, "study", "eval", false, registry, run, session.model_dir,
                              out.eval_name)
                   ->ids;
  }
  out.train_windows = static_cast<std::int64_t>(out.train.size()) / seq;
  out.eval_windows = static_cast<std::int64_t>(out.eval.size()) / seq;
  return out;
}

// study.tasks: the multiple-choice examples, and the unpruned model's accuracy.
struct TaskSet {
  std::string path;
  std::vector<ChoiceExample> examples;
  double base_acc = kNaN;
};

struct Correlations {
  bool has_tasks = false;                      // study.tasks names a task file
  std::vector<ProxyCorrelation> rows;          // every architecture
  std::vector<ProxyCorrelation> uniform_rows;  // the uniform samples alone
  std::vector<std::size_t> uniform_index;      // which architectures are uniform samples
  std::vector<double> after, before;           // held-out losses after / before training
  std::vector<double> accuracy;                // task accuracy after training (has_tasks)
  json coefficients = json::array();           // study.json "coefficients"
  json summary = json::object();               // label -> {spearman_after, kendall_after}
  json plots = json::array();                  // the SVG files written
};

// The study's architectures: read back on resume, else drawn (uniform samples
// of the window) and proposed (the strategy's best distinct candidates) once,
// and written to <run>/architectures.json.
std::vector<Planned> plan_architectures(const Pipeline& p, const Registry& registry,
                                        const RunContext& run, Evaluator& evaluator,
                                        const ArchSpace& space, const StudySettings& st,
                                        bool resume) {
  const fs::path dir = run.run_dir;
  const ModelConfig& c = evaluator.config();
  const fs::path plan_path = dir / "architectures.json";
  std::vector<Planned> plan;
  if (resume && fs::exists(plan_path)) {
    plan = read_plan(plan_path, space, st.n);
  } else {
    const UniformDraws d = draw_distinct(space, st.n, run.seed, st.max_draws);
    if (static_cast<int>(d.genomes.size()) < st.n) {
      throw ConfigError(too_small(p, static_cast<int>(d.genomes.size()), d.draws, st.n));
    }
    std::set<std::string> taken;
    const int n_uniform = st.n - st.n_strategy;
    for (int i = 0; i < n_uniform; ++i) {
      taken.insert(arch_to_json(space.decode(d.genomes[i]), c));
      plan.push_back({i, "uniform", d.genomes[i]});
    }
    if (st.n_strategy > 0) {
      for (const CandidateRecord& r :
           strategy_proposals(p, registry, run, evaluator, space, dir / "proposals")) {
        if (static_cast<int>(plan.size()) == st.n) break;
        if (taken.insert(arch_to_json(r.arch, c)).second) {
          plan.push_back({static_cast<int>(plan.size()), "strategy", r.genome});
        }
      }
    }
    // Too few distinct proposals: the next uniform draws fill the rest.
    for (std::size_t i = n_uniform; static_cast<int>(plan.size()) < st.n; ++i) {
      if (taken.insert(arch_to_json(space.decode(d.genomes[i]), c)).second) {
        plan.push_back({static_cast<int>(plan.size()), "uniform", d.genomes[i]});
      }
    }
    write_file_atomic(plan_path.string(), plan_json(plan).dump(1) + "\n");
  }
  return plan;
}

// Scores, prunes, trains and evaluates every planned architecture not yet in
// `log_path` (study.jsonl), appending one fsynced record each; returns every
// record by architecture index.
std::map<int, json> train_architectures(const std::vector<Planned>& plan, const ArchSpace& space,
                                        Evaluator& evaluator, const PipelineSession& session,
                                        const std::vector<at::Tensor>& eval_set,
                                        const std::vector<ChoiceExample>& tasks, const Split& data,
                                        const TrainOptions& topt, const fs::path& log_path,
                                        std::int64_t report_every, Communicator* ranks) {
  const ModelConfig& c = evaluator.config();
  const bool root = ranks == nullptr || ranks->is_root();
  const int rank = ranks != nullptr ? ranks->rank() : 0;
  const int size = ranks != nullptr ? ranks->size() : 1;
  std::map<int, json> done;
  if (root) done = read_study_log(log_path);
  if (size > 1) {
    // Every rank learns which architectures are left (rank 0 reads the log).
    json indices = json::array();
    for (const auto& [index, rec] : done) indices.push_back(index);
    indices = json::parse(ranks->broadcast_bytes(indices.dump(), 0, "reading study.jsonl"));
    for (const json& i : indices) done.emplace(i.get<int>(), json());
  }
  if (!done.empty()) log().info("study: {} architectures already done (resume)", done.size());
  std::unique_ptr<AppendLog> out;
  if (root) out = std::make_unique<AppendLog>(log_path.string());
  const auto& proxies = evaluator.proxies();
  std::vector<const Planned*> pending;
  for (const Planned& a : plan) {
    if (!done.count(a.index)) pending.push_back(&a);
  }
  // A group of `size` pending architectures at a time: the k-th to rank k.
  for (std::size_t group = 0; group < pending.size(); group += static_cast<std::size_t>(size)) {
    json mine = nullptr;
    const std::size_t at = group + static_cast<std::size_t>(rank);
    if (at < pending.size()) {
      const Planned& a = *pending[at];
      const auto t0 = std::chrono::steady_clock::now();
      const Arch arch = space.decode(a.genome);
      const Evaluation ev = evaluator.evaluate(arch);
      const double proxy_seconds = seconds_since(t0);

      const auto t1 = std::chrono::steady_clock::now();
      const auto selection = select_units(c, arch, &evaluator.order());
      DecoderModel pruned(c,
                          float32_weights(evaluator.realize(selection), session.model->device()));
      const double before = evaluate(c, pruned.weights(), eval_set).loss;
      const double eval_seconds_before = seconds_since(t1);
      const auto t2 = std::chrono::steady_clock::now();
      TrainResult tr = train_model(pruned, data.train, nullptr, topt);
      const double train_seconds = seconds_since(t2);
      const auto t3 = std::chrono::steady_clock::now();
      const double after = evaluate(c, pruned.weights(), eval_set).loss;
      const double eval_seconds = eval_seconds_before + seconds_since(t3);
      json task = nullptr;
      if (!tasks.empty()) {
        const auto t4 = std::chrono::steady_clock::now();
        const MultipleChoiceResult m = score_multiple_choice(c, pruned.weights(), tasks);
        task = {{"acc", m.acc}, {"acc_norm", m.acc_norm}, {"seconds", seconds_since(t4)}};
      }

      json values = json::object();
      for (std::size_t j = 0; j < proxies.size(); ++j) {
        values[proxies[j].label] = finite_or_null(ev.values[j]);
      }
      json rec = {{"index", a.index},
                  {"origin", a.origin},
                  {"params", ev.params},
                  {"scoped_params", space.scoped_params(arch)},
                  {"proxies", values},
                  {"loss_before", finite_or_null(before)},
                  {"loss_after", finite_or_null(after)},
                  {"ppl_after", finite_or_null(std::exp(after))},
                  {"task", task},
                  {"train_loss_first", tr.log.empty() ? json(nullptr) : json(tr.log.front().loss)},
                  {"train_loss_last", tr.log.empty() ? json(nullptr) : json(tr.log.back().loss)},
                  {"seconds",
                   {{"proxies", proxy_seconds}, {"train", train_seconds}, {"eval", eval_seconds}}},
                  {"genome", a.genome},
                  {"arch", json::parse(arch_to_json(arch, c))}};
      if (size > 1) rec["rank"] = rank;
      log().info("study: [{}/{}] {} {} params: loss {:.4f} -> {:.4f} after {} steps{} ({:.1f} s)",
                 done.size() + at - group + 1, plan.size(), a.origin, ev.params, before, after,
                 topt.steps,
                 task.is_object() ? fmt::format(", task accuracy {:.3f}", task["acc"].get<double>())
                                  : std::string(),
                 seconds_since(t0));
      mine = rec;
    }
    std::vector<json> records = {mine};
    if (size > 1) {
      records.clear();
      for (const std::string& r :
           ranks->allgather(mine.dump(), "training architectures " + std::to_string(group + 1) +
                                             "-" + std::to_string(group + size))) {
        records.push_back(json::parse(r));
      }
    }
    for (const json& rec : records) {
      if (rec.is_null()) continue;
      if (root) out->append(rec.dump());
      done[rec["index"].get<int>()] = rec;
      if (root && report_every > 0 && static_cast<std::int64_t>(done.size()) % report_every == 0) {
        update_report(log_path.parent_path().string(), /*live=*/true);
      }
    }
  }

  return done;
}

// The coefficients of every proxy against the held-out losses (all
// architectures, and the uniform samples alone), with a scatter plot each in
// <run>/plots/.
Correlations correlate_all(const Pipeline& p, const RunContext& run, const Evaluator& evaluator,
                           const std::vector<Planned>& plan, const std::map<int, json>& done,
                           const StudySettings& st, bool has_tasks) {
  const fs::path dir = run.run_dir;
  const auto& proxies = evaluator.proxies();
  Correlations k;
  k.has_tasks = has_tasks;
  std::vector<double>& after = k.after;
  std::vector<double>& before = k.before;
  std::vector<std::vector<double>> values(proxies.size());
  for (const Planned& a : plan) {
    const json& r = done.at(a.index);
    after.push_back(number_or_nan(r["loss_after"]));
    before.push_back(number_or_nan(r["loss_before"]));
    if (has_tasks) {
      // A record from before study.tasks was set has no accuracy: left out.
      const json task = r.value("task", json());
      k.accuracy.push_back(task.is_object() ? number_or_nan(task.value("acc", json())) : kNaN);
    }
    for (std::size_t j = 0; j < proxies.size(); ++j) {
      const json& pv = r["proxies"];
      values[j].push_back(pv.contains(proxies[j].label) ? number_or_nan(pv[proxies[j].label])
                                                        : kNaN);
    }
  }
  std::vector<ProxyCorrelation>& rows = k.rows;
  std::vector<ProxyCorrelation>& uniform_rows = k.uniform_rows;
  json& coefficients = k.coefficients;
  // The uniform samples alone: an unbiased sample of the window, without the
  // strategy's cluster of (usually larger) architectures.
  std::vector<std::size_t>& uniform_index = k.uniform_index;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].origin == "uniform") uniform_index.push_back(i);
  }
  auto pick = [&](const std::vector<double>& v) {
    std::vector<double> out;
    for (std::size_t i : uniform_index) out.push_back(v[i]);
    return out;
  };
  json& plots = k.plots;
  json& summary_coefficients = k.summary;
  fs::create_directories(dir / "plots");
  for (std::size_t j = 0; j < proxies.size(); ++j) {
    const Direction direction = evaluator.directions()[j];
    ProxyCorrelation r = correlate_proxy(proxies[j].label, direction, values[j], after, before,
                                         st.resamples, run.seed, k.accuracy);
    rows.push_back(r);
    const ProxyCorrelation u = correlate_proxy(
        proxies[j].label, direction, pick(values[j]), pick(after), pick(before), st.resamples,
        run.seed, has_tasks ? pick(k.accuracy) : std::vector<double>{});
    uniform_rows.push_back(u);
    auto coefficients_of = [](const ProxyCorrelation& c) {
      json out = {{"n", c.n},
                  {"spearman_after", coefficient_json(c.spearman_after)},
                  {"kendall_after", coefficient_json(c.kendall_after)},
                  {"spearman_before", coefficient_json(c.spearman_before)},
                  {"kendall_before", coefficient_json(c.kendall_before)},
                  {"spearman_ppl_after", coefficient_json(c.spearman_ppl)},
                  {"kendall_ppl_after", coefficient_json(c.kendall_ppl)}};
      if (c.has_accuracy) {
        out["n_task"] = c.n_accuracy;
        out["spearman_task_acc"] = coefficient_json(c.spearman_acc);
        out["kendall_task_acc"] = coefficient_json(c.kendall_acc);
      }
      return out;
    };
    json entry = {{"proxy", r.label},
                  {"component", proxies[j].name},
                  {"better", direction == Direction::kHigherIsBetter ? "higher" : "lower"}};
    entry.update(coefficients_of(r));
    entry["uniform_only"] = coefficients_of(u);
    coefficients.push_back(entry);
    summary_coefficients[r.label] = {{"spearman_after", finite_or_null(r.spearman_after.value)},
                                     {"kendall_after", finite_or_null(r.kendall_after.value)}};
    if (has_tasks) {
      summary_coefficients[r.label]["spearman_task_acc"] = finite_or_null(r.spearman_acc.value);
    }
    std::vector<ScatterPoint> pts;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      pts.push_back({values[j][i], after[i], plan[i].origin == "strategy" ? 1 : 0});
    }
    char sub[160];
    std::snprintf(sub, sizeof sub, "Spearman rho %+.3f, Kendall tau %+.3f (score vs -loss, n = %d)",
                  r.spearman_after.value, r.kendall_after.value, r.n);
    const fs::path svg = dir / "plots" / (file_name_of(r.label) + ".svg");
    write_file_atomic(
        svg.string(),
        scatter_svg(
            r.label + " vs held-out loss after recovery training", sub,
            r.label + " (" + (direction == Direction::kHigherIsBetter ? "higher" : "lower") +
                " is better)",
            "held-out loss after training", pts, {"uniform sample", p.search.name + " proposal"}));
    plots.push_back(svg.string());
  }

  return k;
}

// study.json (settings, base loss, every coefficient) and study.md (the
// tables) in the run folder.
void write_study_outputs(const Pipeline& p, const RunContext& run, const StudySettings& st,
                         const TrainOptions& topt, const Split& data, int from_strategy,
                         double base_loss, std::int64_t base_params, const Correlations& k,
                         const TaskSet& tasks, double seconds) {
  const fs::path dir = run.run_dir;
  const ParamValues& s = p.study;
  json settings = {{"architectures", st.n},
                   {"from_strategy", from_strategy},
                   {"strategy", p.search.name},
                   {"seed", run.seed},
                   {"seq_len", st.seq_len},
                   {"batch_size", topt.batch},
                   {"steps", topt.steps},
                   {"schedule", topt.schedule.kind},
                   {"lr", topt.schedule.lr},
                   {"min_lr", topt.schedule.min_lr},
                   {"warmup_steps", topt.schedule.warmup_steps},
                   {"weight_decay", topt.adamw.weight_decay},
                   {"clip", topt.clip},
                   {"train_data", data.train_name},
                   {"train_windows", data.train_windows},
                   {"eval_data", data.eval_name},
                   {"eval_windows", data.eval_windows},
                   {"resamples", st.resamples},
                   {"proposal_evaluations", s.get_int("proposal_evaluations")},
                   {"tasks", tasks.path.empty() ? json(nullptr) : json(tasks.path)},
                   {"task_examples", tasks.examples.size()}};
  auto range_of = [](const std::vector<double>& v) {
    double lo = kNaN, hi = kNaN;
    for (double x : v) {
      if (!std::isfinite(x)) continue;
      lo = std::isnan(lo) ? x : std::min(lo, x);
      hi = std::isnan(hi) ? x : std::max(hi, x);
    }
    return json{finite_or_null(lo), finite_or_null(hi)};
  };
  json study = {{"pipeline", p.file},
                {"settings", settings},
                {"base_loss", base_loss},
                {"base_params", base_params},
                {"loss_after_range", range_of(k.after)},
                {"loss_before_range", range_of(k.before)},
                {"base_ppl", std::exp(base_loss)}};
  if (k.has_tasks) {
    study["base_task_acc"] = tasks.base_acc;
    study["task_acc_range"] = range_of(k.accuracy);
  }
  study.update(json{{"orientation",
                     "coefficients of (score, -loss): score is the proxy value when higher is "
                     "better, its negation when lower is better; +1 = the proxy orders the "
                     "architectures exactly as their held-out loss does"},
                    {"coefficients", k.coefficients},
                    {"seconds", seconds}});
  write_file_atomic((dir / "study.json").string(), study.dump(2) + "\n");

  std::ostringstream md;
  md << "# Proxy validation study: " << p.run.get_string("name") << "\n\n"
     << "- " << st.n << " architectures (" << st.n - from_strategy << " uniform samples of the "
     << "constraint window, " << from_strategy << " proposals of the `" << p.search.name
     << "` strategy), seed " << run.seed << ".\n"
     << "- Recovery training of each: " << topt.steps << " AdamW steps of " << topt.batch << " x "
     << st.seq_len << " tokens, `" << topt.schedule.kind << "` schedule, lr " << topt.schedule.lr
     << " (floor " << topt.schedule.min_lr << ", warm-up " << topt.schedule.warmup_steps
     << "), weight decay " << topt.adamw.weight_decay << ", clip " << topt.clip
     << "; training data " << data.train_name << " (" << data.train_windows << " windows).\n"
     << "- Held-out loss on " << data.eval_name << " (" << data.eval_windows
     << (data.tail_held_out ? " windows, never trained on" : " windows")
     << "); the unpruned model's is " << base_loss << ".\n"
     << "- Perplexity exp(loss) is a monotone map of the loss, so its rank coefficients equal "
     << "the loss ones (study.json: `spearman_ppl_after`, `kendall_ppl_after`, computed from the "
     << "perplexities).\n";
  if (k.has_tasks) {
    md << "- Task accuracy: zero-shot multiple choice on " << tasks.path << " ("
       << tasks.examples.size() << " examples; each choice scored by the summed log-likelihood "
       << "of its tokens) after training; coefficients of (score, +accuracy). The unpruned "
       << "model's accuracy is " << tasks.base_acc << ".\n";
  }
  md << "- Coefficients of (score, -loss), score = the proxy's value oriented so that higher "
     << "is better: +1 means the proxy ranks the architectures exactly as their loss does. "
     << "Brackets: percentile-bootstrap 95% intervals (" << st.resamples << " resamples).\n\n"
     << study_table(k.rows);
  if (from_strategy > 0 && k.uniform_index.size() >= 3) {
    md << "\nThe " << k.uniform_index.size()
       << " uniform samples alone (an unbiased sample of the window):\n\n"
       << study_table(k.uniform_rows);
  }
  write_file_atomic((dir / "study.md").string(), md.str());
}

// One study in run.run_dir with run.seed.
StudyRunResult run_one_study(const Pipeline& p, const Registry& registry, const RunContext& run,
                             bool resume, Communicator* ranks) {
  const bool root = ranks == nullptr || ranks->is_root();
  const auto t_start = std::chrono::steady_clock::now();
  const fs::path dir = run.run_dir;
  const StudySettings st = settings_of(p, run.seed);

  const ModelConfig base = read_pipeline_model_config(registry, p, run);
  std::unique_ptr<ArchSpace> space = make_space(p, base, run.dtype);
  ScoringComponents scoring = create_scoring_components(registry, p, run);
  // Each architecture is trained with AdamW on float32 master weights.
  const Constraints& window = space->constraints();
  const std::int64_t embed = static_cast<std::int64_t>(base.vocab_size) * base.hidden_size *
                             (base.tie_word_embeddings ? 1 : 2);
  const std::int64_t trained = std::min(
      window.non_embedding && window.max_params < std::numeric_limits<std::int64_t>::max() - embed
          ? window.max_params + embed
          : window.max_params,
      count_params(base, full_arch(base)));
  check_memory_plan(p, pipeline_memory_plan(p, base, space.get(), scoring.proxies, trained), run,
                    /*refuse=*/true);
  PipelineSession session = open_session(registry, p, run);
  TaskSet tasks;
  tasks.path = p.study.get_string("tasks");
  if (!tasks.path.empty()) {
    // Read and checked before anything is computed: a bad line ends the study here.
    tasks.examples = load_choice_tasks(registry, tasks.path, "", session.model_dir,
                                       session.model->config().vocab_size, run, "study.tasks");
  }
  std::unique_ptr<Evaluator> evaluator = make_evaluator(session, std::move(scoring));
  // Rank 0 first: the other ranks then read importance and base traces from the cache.
  root_first(ranks, "waiting for rank 0's base preparation (importance, base traces)",
             [&] { evaluator->prepare(); });
  if (!root) evaluator->prepare();
  const ModelConfig& c = evaluator->config();

  const Split data = split_data(p, registry, run, session, st);
  std::vector<at::Tensor> eval_set =
      eval_batches(data.eval, st.seq_len, st.eval_batch, data.eval_name);
  check_token_ids(eval_set, c.vocab_size, data.eval_name);
  for (at::Tensor& b : eval_set) b = b.to(session.model->device());
  log().info("study: training on {} ({} windows), evaluating on {} ({} windows)", data.train_name,
             data.train_windows, data.eval_name, data.eval_windows);

  std::vector<Planned> plan;
  root_first(ranks, "waiting for rank 0's architecture plan (and its proposal search)", [&] {
    if (root) plan = plan_architectures(p, registry, run, *evaluator, *space, st, resume);
  });
  if (ranks != nullptr && ranks->size() > 1) {
    plan = parse_plan(
        json::parse(ranks->broadcast_bytes(plan_json(plan).dump(), 0, "sending the plan")),
        "rank 0's plan: ", *space, st.n);
  }
  const int from_strategy = static_cast<int>(std::count_if(
      plan.begin(), plan.end(), [](const Planned& a) { return a.origin == "strategy"; }));
  log().info("study: {} architectures ({} uniform, {} from the {} strategy)", plan.size(),
             plan.size() - from_strategy, from_strategy, p.search.name);

  const double base_loss = evaluate(c, session.model->weights(), eval_set).loss;
  log().info("study: base model held-out loss {:.4f}", base_loss);
  if (!tasks.examples.empty()) {
    tasks.base_acc = score_multiple_choice(c, session.model->weights(), tasks.examples).acc;
    log().info("study: base model accuracy {:.4f} on {} ({} examples)", tasks.base_acc, tasks.path,
               tasks.examples.size());
  }

  TrainOptions topt = st.train;
  topt.data_name = data.train_name;
  topt.log_steps = false;
  // Float32 master weights; the forward in bfloat16 when the pipeline runs in it.
  topt.compute_dtype = run.dtype == "bfloat16" ? "bfloat16" : "float32";
  const fs::path log_path = dir / "study.jsonl";
  const std::map<int, json> done =
      train_architectures(plan, *space, *evaluator, session, eval_set, tasks.examples, data, topt,
                          log_path, p.output.get_int("report_every"), ranks);
  if (!root) return StudyRunResult{};

  const Correlations k = correlate_all(p, run, *evaluator, plan, done, st, !tasks.path.empty());
  write_study_outputs(p, run, st, topt, data, from_strategy, base_loss, evaluator->base_params(), k,
                      tasks, seconds_since(t_start));
  update_report(dir.string(), /*live=*/false);

  StudyRunResult r;
  r.study_dir = dir.string();
  r.architectures = st.n;
  r.study_jsonl = log_path.string();
  r.study_json = (dir / "study.json").string();
  r.table_md = (dir / "study.md").string();
  for (const json& plot : k.plots) r.plots.push_back(plot.get<std::string>());
  r.base_loss = base_loss;
  r.coefficients = k.summary;
  r.table = study_table(k.rows);
  return r;
}

std::vector<std::uint64_t> seeds_of(const Pipeline& p, const RunContext& run) {
  std::vector<std::uint64_t> out;
  for (std::int64_t s : p.study.get_int_list("seeds")) out.push_back(static_cast<std::uint64_t>(s));
  if (out.empty()) out.push_back(run.seed);
  return out;
}

// Every coefficient summarised over seeds; the last two exist with study.tasks.
const char* const kCoefficientKeys[] = {
    "spearman_after",     "kendall_after",     "spearman_before",   "kendall_before",
    "spearman_ppl_after", "kendall_ppl_after", "spearman_task_acc", "kendall_task_acc"};
// The coefficients study.md shows (perplexity's equal the loss ones).
bool shown_in_table(const std::string& key, bool has_tasks) {
  return key.find("_ppl_") == std::string::npos &&
         (has_tasks || key.find("_task_") == std::string::npos);
}

// study.json, study.md and plots/seeds.svg of a study over several seeds:
// every coefficient per seed, and their mean and sample standard deviation.
json write_seed_outputs(const Pipeline& p, const fs::path& dir,
                        const std::vector<std::uint64_t>& seeds, const std::vector<json>& studies,
                        double seconds, std::string& table) {
  json per_seed = json::array();
  std::vector<std::string> labels;
  std::map<std::string, std::string> better;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    per_seed.push_back(
        {{"seed", seeds[i]},
         {"study_json", (dir / ("seed-" + std::to_string(seeds[i])) / "study.json").string()},
         {"base_loss", studies[i].value("base_loss", json())},
         {"coefficients", studies[i].value("coefficients", json::array())}});
    for (const json& c : studies[i].value("coefficients", json::array())) {
      const std::string label = c.value("proxy", "");
      if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
      better[label] = c.value("better", "");
    }
  }
  bool has_tasks = false;
  for (const json& st : studies) {
    const json settings = st.value("settings", json::object());
    has_tasks = has_tasks || settings.value("tasks", json()).is_string();
  }
  json summary = json::array();
  json compact = json::object();
  std::ostringstream md;
  md << "# Proxy validation study over " << seeds.size() << " seeds: " << p.run.get_string("name")
     << "\n\n- Seeds";
  for (std::uint64_t s : seeds) md << " " << s;
  md << " (each: its own architectures, calibration shuffle when `data.shuffle` is on, and "
        "training order; `seed-<s>/study.md` has each seed's table with its intervals).\n"
     << "- Mean and sample standard deviation over the seeds of the coefficients of (score, "
        "-loss); +1 means the proxy ranks the architectures exactly as their held-out loss does."
        " Against perplexity the coefficients are the same (a monotone map; study.json "
        "`spearman_ppl_after`).\n";
  if (has_tasks) {
    md << "- Task accuracy: coefficients of (score, +zero-shot multiple-choice accuracy) after "
          "training (`seed-<s>/study.md` names the task file).\n";
  }
  md << "\n| proxy | better | Spearman after | Kendall after | Spearman before | Kendall before |"
     << (has_tasks ? " Spearman task acc | Kendall task acc |" : "")
     << "\n|---|---|---|---|---|---|" << (has_tasks ? "---|---|" : "") << "\n";
  for (const std::string& label : labels) {
    json row = {{"proxy", label}, {"better", better[label]}};
    md << "| " << label << " | " << better[label] << " |";
    for (const char* key : kCoefficientKeys) {
      if (!has_tasks && std::string(key).find("_task_") != std::string::npos) continue;
      std::vector<double> v;
      json values = json::array();
      for (const json& st : studies) {
        for (const json& c : st.value("coefficients", json::array())) {
          if (c.value("proxy", "") != label) continue;
          const json x = c.contains(key) ? c[key].value("value", json()) : json();
          values.push_back(x);
          if (x.is_number()) v.push_back(x.get<double>());
        }
      }
      double mean = kNaN, sd = kNaN;
      if (!v.empty()) {
        mean = 0;
        for (double x : v) mean += x;
        mean /= static_cast<double>(v.size());
      }
      if (v.size() >= 2) {
        double ss = 0;
        for (double x : v) ss += (x - mean) * (x - mean);
        sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
      }
      row[key] = {{"mean", finite_or_null(mean)},
                  {"sd", finite_or_null(sd)},
                  {"n", v.size()},
                  {"per_seed", values}};
      char cell[64];
      if (std::isfinite(sd)) {
        std::snprintf(cell, sizeof cell, " %+.3f +- %.3f |", mean, sd);
      } else {
        std::snprintf(cell, sizeof cell, " %+.3f |", mean);  // one seed: no spread
      }
      if (!shown_in_table(key, has_tasks)) continue;
      md << (std::isfinite(mean) ? std::string(cell) : std::string(" n/a |"));
    }
    md << "\n";
    summary.push_back(row);
    compact[label] = {{"spearman_after", row["spearman_after"]["mean"]},
                      {"kendall_after", row["kendall_after"]["mean"]}};
    if (has_tasks) compact[label]["spearman_task_acc"] = row["spearman_task_acc"]["mean"];
  }
  const json study = {
      {"pipeline", p.file},
      {"seeds", seeds},
      {"per_seed", per_seed},
      {"summary", summary},
      {"orientation", studies.empty() ? json() : studies[0].value("orientation", json())},
      {"seconds", seconds}};
  write_file_atomic((dir / "study.json").string(), study.dump(2) + "\n");
  write_file_atomic((dir / "study.md").string(), md.str());
  // Spearman after training per proxy: one point per seed, x = the proxy's number.
  Plot plot;
  plot.title = "Spearman rho after training, per proxy and seed";
  std::string key;
  for (std::size_t j = 0; j < labels.size(); ++j) {
    key += (j ? ", " : "") + std::to_string(j + 1) + " " + labels[j];
  }
  plot.subtitle = key;
  plot.x_label = "proxy (number, as listed above)";
  plot.integer_x = true;
  plot.y_label = "Spearman rho of (score, -held-out loss)";
  plot.width = 640;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    PlotSeries series;
    series.name = "seed " + std::to_string(seeds[i]);
    series.style = static_cast<int>(i);
    for (std::size_t j = 0; j < labels.size(); ++j) {
      for (const json& c : studies[i].value("coefficients", json::array())) {
        if (c.value("proxy", "") != labels[j]) continue;
        const json x = c["spearman_after"].value("value", json());
        series.x.push_back(static_cast<double>(j + 1));
        series.y.push_back(x.is_number() ? x.get<double>() : kNaN);
      }
    }
    plot.series.push_back(series);
  }
  fs::create_directories(dir / "plots");
  write_file_atomic((dir / "plots" / "seeds.svg").string(), plot_svg(plot));
  table = md.str();
  return compact;
}

}  // namespace

void check_study(const Pipeline& p, const Registry& registry) {
  // The schedule was validated with the pipeline, in its key names.
  RunContext run = p.run_context();
  const ModelConfig base = read_pipeline_model_config(registry, p, run);
  std::unique_ptr<ArchSpace> space = make_space(p, base, run.dtype);
  const std::vector<std::uint64_t> seeds = seeds_of(p, run);
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    if (std::find(seeds.begin(), seeds.begin() + static_cast<long>(i), seeds[i]) !=
        seeds.begin() + static_cast<long>(i)) {
      throw ConfigError(p.file + ": error: study.seeds: seed " + std::to_string(seeds[i]) +
                        " appears twice");
    }
  }
  for (std::uint64_t seed : seeds) {
    const StudySettings st = settings_of(p, seed);
    const UniformDraws d = draw_distinct(*space, st.n, seed, st.max_draws);
    if (static_cast<int>(d.genomes.size()) < st.n) {
      throw ConfigError(too_small(p, static_cast<int>(d.genomes.size()), d.draws, st.n));
    }
  }
}

StudyRunResult run_study(const Pipeline& p, const Registry& registry, const RunContext& run,
                         bool resume, Communicator* ranks) {
  if (p.study.get_int_list("seeds").empty()) return run_one_study(p, registry, run, resume, ranks);
  const bool root = ranks == nullptr || ranks->is_root();
  const auto t_start = std::chrono::steady_clock::now();
  const fs::path dir = run.run_dir;
  const std::vector<std::uint64_t> seeds = seeds_of(p, run);
  // The folder's marker (tracenas study refuses a folder holding one without --resume).
  if (root) write_file_atomic((dir / "seeds.json").string(), json(seeds).dump() + "\n");
  std::vector<json> studies;
  for (std::uint64_t seed : seeds) {
    Pipeline ps = p;
    ps.data_batches.set("shuffle_seed", static_cast<std::int64_t>(seed));
    RunContext rs = run;
    rs.seed = seed;
    rs.run_dir = (dir / ("seed-" + std::to_string(seed))).string();
    const fs::path done = fs::path(rs.run_dir) / "study.json";
    json finished;  // rank 0 reads the seed's folder and tells the others
    bool started = false;
    if (root && fs::exists(done)) {
      std::ifstream in(done);
      json j = json::parse(in, nullptr, false);
      if (!j.is_discarded() && j.contains("coefficients")) finished = j;
    }
    // A seed folder holding a plan continues where it stopped.
    if (root) started = fs::exists(fs::path(rs.run_dir) / "architectures.json");
    if (ranks != nullptr && ranks->size() > 1) {
      const json state = json::parse(ranks->broadcast_bytes(
          json{{"finished", !finished.is_null()}, {"started", started}}.dump(), 0,
          "reading seed " + std::to_string(seed) + "'s folder"));
      started = state["started"];
      if (!root && state["finished"].get<bool>()) finished = json::object();
    }
    if (!finished.is_null()) {
      log().info("study: seed {} already done ({})", seed, done.string());
      studies.push_back(finished);
      continue;
    }
    if (root) fs::create_directories(rs.run_dir);
    log().info("study: seed {} ({} of {}) in {}", seed, studies.size() + 1, seeds.size(),
               rs.run_dir);
    run_one_study(ps, registry, rs, resume && started, ranks);
    if (!root) {
      studies.push_back(json::object());
      continue;
    }
    std::ifstream in(done);
    studies.push_back(json::parse(in));
  }
  if (!root) return StudyRunResult{};
  StudyRunResult r;
  r.study_dir = dir.string();
  r.architectures = static_cast<int>(p.study.get_int("architectures"));
  r.study_json = (dir / "study.json").string();
  r.table_md = (dir / "study.md").string();
  r.coefficients = write_seed_outputs(p, dir, seeds, studies, seconds_since(t_start), r.table);
  r.plots.push_back((dir / "plots" / "seeds.svg").string());
  for (std::uint64_t seed : seeds) {
    r.plots.push_back((dir / ("seed-" + std::to_string(seed)) / "plots").string());
  }
  r.study_jsonl = (dir / ("seed-" + std::to_string(seeds.front())) / "study.jsonl").string();
  if (!studies.empty()) r.base_loss = studies.front().value("base_loss", 0.0);
  update_report(dir.string(), /*live=*/false);
  return r;
}

}  // namespace tracenas
