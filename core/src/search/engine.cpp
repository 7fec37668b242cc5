#include "search/engine.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "base/append_log.hpp"
#include "base/util.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/support/cache.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

using Clock = std::chrono::steady_clock;

json value_json(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double value_from(const json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto total = static_cast<long long>(s + 0.5);
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, (total / 60) % 60,
                  total % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
  }
  return buf;
}

// Progress on a terminal (one redrawn line) or as periodic log lines.
class Progress {
 public:
  Progress(bool bar, std::int64_t budget, double time_limit, double log_every)
      : bar_(bar), budget_(budget), time_limit_(time_limit), log_every_(log_every) {}

  void update(std::int64_t done, const std::optional<CandidateRecord>& best, bool force = false) {
    const double elapsed = seconds_since(t0_);
    double frac = 0;
    if (budget_ > 0) frac = static_cast<double>(done) / static_cast<double>(budget_);
    if (time_limit_ > 0) frac = std::max(frac, elapsed / time_limit_);
    const double eta = frac > 0 ? elapsed * (1 - frac) / frac : -1;
    std::ostringstream best_text;
    if (best) {
      best_text << "best " << best->objective << " (" << best->params << " params)";
    } else {
      best_text << "best -";
    }
    const std::string total = budget_ > 0 ? std::to_string(budget_) : std::string("?");
    if (bar_) {
      const int width = 24;
      const int filled = static_cast<int>(std::min(1.0, frac) * width);
      std::fprintf(stderr, "\r[%s%s] %lld/%s %s ETA %s   ", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                   total.c_str(), best_text.str().c_str(), format_duration(eta).c_str());
      std::fflush(stderr);
      drawn_ = true;
    } else if (force || seconds_since(last_) >= log_every_) {
      log().info("search: {}/{} evaluated, {}, elapsed {}, ETA {}", done, total, best_text.str(),
                 format_duration(elapsed), format_duration(eta));
      last_ = Clock::now();
    }
  }
  void finish() {
    if (bar_ && drawn_) std::fprintf(stderr, "\n");
  }

 private:
  bool bar_;
  std::int64_t budget_;
  double time_limit_;
  double log_every_;
  bool drawn_ = false;
  Clock::time_point t0_ = Clock::now();
  Clock::time_point last_ = Clock::now();
};

bool better(const CandidateRecord& a, const CandidateRecord& b) {
  if (a.fitness != b.fitness) return a.fitness > b.fitness;
  return a.index < b.index;  // the earlier of equals
}

}  // namespace

Engine::Engine(Evaluator& evaluator, const ArchSpace& space, Instance<SearchStrategy>& strategy,
               EngineOptions options)
    : evaluator_(evaluator), space_(space), strategy_(strategy), options_(std::move(options)) {
  if (options_.objective < 0 ||
      options_.objective >= static_cast<int>(evaluator_.proxies().size())) {
    throw Error("engine: objective index out of range");
  }
}

std::string Engine::log_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "candidates.jsonl").string();
}

json Engine::record_json(const CandidateRecord& r) const {
  json values = json::object();
  const auto& proxies = evaluator_.proxies();
  for (std::size_t i = 0; i < proxies.size(); ++i)
    values[proxies[i].label] = value_json(r.values[i]);
  return {{"index", r.index},
          {"round", r.round},
          {"genome", r.genome},
          {"params", r.params},
          {"proxies", values},
          {"objective", value_json(r.objective)},
          {"valid", r.valid},
          {"seconds", r.seconds},
          {"pass_seconds", r.pass_seconds},
          {"proxy_seconds", r.proxy_seconds},
          {"arch", json::parse(arch_to_json(r.arch, space_.base()))["layers"]}};
}

std::optional<CandidateRecord> Engine::record_from_json(const json& j) const {
  if (!j.is_object() || !j.contains("genome") || !j["genome"].is_array() ||
      !j.contains("proxies") || !j["proxies"].is_object()) {
    return std::nullopt;
  }
  CandidateRecord r;
  r.index = j.value("index", std::int64_t{0});
  r.round = j.value("round", 0);
  for (const auto& g : j["genome"]) {
    if (!g.is_number_integer()) return std::nullopt;
    r.genome.push_back(g.get<std::int64_t>());
  }
  if (static_cast<int>(r.genome.size()) != space_.dims()) return std::nullopt;
  r.arch = space_.decode(r.genome);
  r.params = j.value("params", std::int64_t{0});
  for (const auto& p : evaluator_.proxies()) {
    r.values.push_back(j["proxies"].contains(p.label) ? value_from(j["proxies"][p.label])
                                                      : std::nan(""));
  }
  r.objective = r.values[static_cast<std::size_t>(options_.objective)];
  r.valid = std::isfinite(r.objective);
  const bool higher = evaluator_.directions()[static_cast<std::size_t>(options_.objective)] ==
                      Direction::kHigherIsBetter;
  r.fitness =
      r.valid ? (higher ? r.objective : -r.objective) : -std::numeric_limits<double>::infinity();
  r.seconds = j.value("seconds", 0.0);
  r.pass_seconds = j.value("pass_seconds", 0.0);
  r.proxy_seconds = j.value("proxy_seconds", 0.0);
  return r;
}

std::map<Genome, CandidateRecord> Engine::read_log(const std::string& path) const {
  std::map<Genome, CandidateRecord> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return out;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A line without its newline was torn by a kill: drop it from the file.
  const std::size_t keep = text.empty() ? 0 : text.rfind('\n') + 1;
  if (keep < text.size()) {
    log().warn("{}: dropping a torn last line ({} bytes) left by an interrupted run", path,
               text.size() - keep);
    fs::resize_file(path, keep);
    text.resize(keep);
  }
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    auto r = record_from_json(j);
    if (!r) {
      throw DataError(path + ":" + std::to_string(number) +
                      ": not a candidate record of this search space; the run folder holds "
                      "another run or a damaged log");
    }
    out.emplace(r->genome, std::move(*r));
  }
  return out;
}

// The engine loop in the order of its contract (engine.hpp): resume the log,
// then ask, reject, evaluate, record, tell until the budget ends; each step
// reads the loop's state (budget, counters, best), so it is one function of
// about 130 lines.
EngineResult Engine::run() {
  Communicator* comm = options_.comm;
  if (comm != nullptr && !comm->is_root()) return run_worker();
  const auto t_start = Clock::now();
  EngineResult res;
  res.evaluated_per_rank.assign(comm != nullptr ? static_cast<std::size_t>(comm->size()) : 1, 0);
  // Whatever ends the loop (the budget, an error), the other ranks are told to stop.
  struct StopWorkers {
    Communicator* comm;
    ~StopWorkers() {
      if (comm == nullptr || comm->size() == 1) return;
      try {
        // An exception unwinding through here is rank 0's failure: the ranks end with it.
        comm->broadcast_bytes(
            json{{"stop", true}, {"failed", std::uncaught_exceptions() > 0}}.dump(), 0,
            "ending the search");
      } catch (const std::exception& e) {
        log().warn("search: could not tell the other ranks to stop: {}", e.what());
      }
    }
  } stop_workers{comm};
  const std::string path = log_path(options_.run_dir);
  std::map<Genome, CandidateRecord> logged;
  if (options_.resume) {
    logged = read_log(path);
    log().info("resume: {} candidate(s) recorded in {}", logged.size(), path);
  } else if (fs::exists(path) && fs::file_size(path) > 0) {
    throw Error(path + ": already holds candidates; resume the run instead");
  }
  AppendLog out(path);

  const bool higher = evaluator_.directions()[static_cast<std::size_t>(options_.objective)] ==
                      Direction::kHigherIsBetter;
  const bool bar = options_.progress == 1 || (options_.progress < 0 && ::isatty(2) != 0);
  Progress progress(bar, options_.max_evaluations, options_.time_limit_s, options_.log_every_s);

  strategy_.call("start", [&](SearchStrategy& s) { s.start(space_, options_.seed); });
  std::map<Genome, CandidateRecord> store;  // this process: evaluated or replayed
  std::vector<CandidateRecord> all;
  int stalled_rounds = 0;
  constexpr int kMaxStalledRounds = 50;
  for (int round = 0;; ++round) {
    if (options_.max_evaluations > 0 && res.evaluated >= options_.max_evaluations) {
      res.stop_reason = "max_evaluations";
      break;
    }
    if (options_.time_limit_s > 0 && seconds_since(t_start) >= options_.time_limit_s) {
      res.stop_reason = "time_limit";
      break;
    }
    int n = options_.ask_size;
    if (options_.max_evaluations > 0) {
      n = static_cast<int>(std::min<std::int64_t>(n, options_.max_evaluations - res.evaluated));
    }
    std::vector<Genome> asked = strategy_.call("ask", [&](SearchStrategy& s) { return s.ask(n); });
    if (asked.empty()) {
      res.stop_reason = "strategy_done";
      break;
    }
    ++res.rounds;
    // The round in the order asked: what each genome is (rejected, a duplicate, over the
    // budget, replayed from the log, or new), then the new ones scored (here or on every
    // rank), then every one recorded and told in that order.
    enum class Kind { kRejected, kStored, kSameRound, kOverBudget, kReplayed, kNew };
    struct Slot {
      Kind kind = Kind::kNew;
      std::size_t at = 0;  // kSameRound: the slot it repeats; kNew: its place in `fresh`
    };
    std::vector<Slot> slots;
    std::vector<Genome> fresh;
    std::map<Genome, std::size_t> first_in_round;
    std::int64_t budgeted = res.evaluated;
    for (std::size_t i = 0; i < asked.size(); ++i) {
      const Genome& g = asked[i];
      Slot slot;
      const Rejection why = space_.check(g);
      if (why != Rejection::kNone) {
        ++res.rejected[to_string(why)];
        slot.kind = Kind::kRejected;
      } else if (store.count(g)) {
        slot.kind = Kind::kStored;
      } else if (auto it = first_in_round.find(g); it != first_in_round.end()) {
        slot.kind = Kind::kSameRound;
        slot.at = it->second;
      } else if (options_.max_evaluations > 0 && budgeted >= options_.max_evaluations) {
        slot.kind = Kind::kOverBudget;
      } else {
        slot.kind = logged.count(g) ? Kind::kReplayed : Kind::kNew;
        if (slot.kind == Kind::kNew) {
          slot.at = fresh.size();
          fresh.push_back(g);
        }
        first_in_round.emplace(g, i);
        ++budgeted;
      }
      slots.push_back(slot);
    }
    const std::vector<Scored> scored = score_all(fresh);

    std::vector<Observation> told;
    const std::int64_t before = res.evaluated;
    for (std::size_t i = 0; i < asked.size(); ++i) {
      const Genome& g = asked[i];
      const Slot& slot = slots[i];
      Observation obs;
      obs.genome = g;
      if (slot.kind == Kind::kRejected || slot.kind == Kind::kOverBudget) {
        // Rejected, or over the budget within this round: nothing is known.
        obs.valid = false;
        obs.fitness = -std::numeric_limits<double>::infinity();
        told.push_back(std::move(obs));
        continue;
      }
      if (slot.kind == Kind::kStored || slot.kind == Kind::kSameRound) {
        const CandidateRecord& seen = store.at(g);
        ++res.duplicates;
        obs.fitness = seen.fitness;
        obs.valid = seen.valid;
        told.push_back(std::move(obs));
        continue;
      }
      CandidateRecord rec;
      if (slot.kind == Kind::kReplayed) {
        rec = logged.at(g);
        ++res.replayed;
      } else {
        const Scored& sc = scored[slot.at];
        rec.genome = g;
        rec.arch = space_.decode(g);
        rec.params = sc.ev.params;
        rec.values = sc.ev.values;
        rec.pass_seconds = sc.ev.pass_seconds;
        rec.proxy_seconds = sc.ev.proxy_seconds;
        rec.objective = sc.ev.values[static_cast<std::size_t>(options_.objective)];
        rec.valid = std::isfinite(rec.objective);
        rec.fitness = rec.valid ? (higher ? rec.objective : -rec.objective)
                                : -std::numeric_limits<double>::infinity();
        rec.round = round;
        rec.index = static_cast<std::int64_t>(logged.size() + all.size() - res.replayed);
        rec.seconds = sc.seconds;
        res.candidate_seconds += rec.seconds;
        if (sc.rank < 0) {  // every rank took part (data-parallel passes)
          for (std::int64_t& n : res.evaluated_per_rank) ++n;
        } else {
          ++res.evaluated_per_rank[static_cast<std::size_t>(sc.rank)];
        }
        out.append(record_json(rec).dump());
        if (options_.on_recorded) options_.on_recorded(res.evaluated + 1);
      }
      ++res.evaluated;
      if (!rec.valid) ++res.invalid;
      obs.fitness = rec.fitness;
      obs.valid = rec.valid;
      told.push_back(std::move(obs));
      store.emplace(g, rec);
      all.push_back(rec);
      if (rec.valid && (!res.best || better(rec, *res.best))) res.best = rec;
      progress.update(res.evaluated, res.best);
    }
    strategy_.call("tell", [&](SearchStrategy& s) { s.tell(told); });
    stalled_rounds = res.evaluated == before ? stalled_rounds + 1 : 0;
    if (stalled_rounds >= kMaxStalledRounds) {
      res.stop_reason = "stalled";
      log().warn(
          "search: the strategy proposed no new feasible architecture in {} rounds; "
          "stopping",
          kMaxStalledRounds);
      break;
    }
  }
  progress.update(res.evaluated, res.best, /*force=*/true);
  progress.finish();
  std::vector<CandidateRecord> valid;
  for (const auto& r : all) {
    if (r.valid) valid.push_back(r);
  }
  std::sort(valid.begin(), valid.end(), better);
  if (static_cast<int>(valid.size()) > options_.top_k)
    valid.resize(static_cast<std::size_t>(options_.top_k));
  res.top = std::move(valid);
  res.search_seconds = seconds_since(t_start);
  return res;
}

namespace {

// Doubles on the wire: finite ones as numbers (exact through JSON), the rest by name.
json wire(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}
double unwire(const json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

Engine::Scored Engine::score(const Genome& g, int rank) {
  const auto t0 = Clock::now();
  Scored sc;
  sc.ev = evaluator_.evaluate(space_.decode(g));
  sc.seconds = seconds_since(t0);
  sc.rank = rank;
  return sc;
}

std::string Engine::score_share(const std::vector<Genome>& genomes) {
  const int rank = options_.comm->rank(), size = options_.comm->size();
  json mine = json::array();
  for (std::size_t i = static_cast<std::size_t>(rank); i < genomes.size();
       i += static_cast<std::size_t>(size)) {
    const Scored sc = score(genomes[i], rank);
    json values = json::array();
    for (double v : sc.ev.values) values.push_back(wire(v));
    mine.push_back({{"params", sc.ev.params},
                    {"values", values},
                    {"pass_seconds", sc.ev.pass_seconds},
                    {"proxy_seconds", sc.ev.proxy_seconds},
                    {"seconds", sc.seconds}});
  }
  return mine.dump();
}

std::vector<Engine::Scored> Engine::score_all(const std::vector<Genome>& genomes) {
  Communicator* comm = options_.comm;
  std::vector<Scored> out;
  if (comm == nullptr || comm->size() == 1) {
    for (const Genome& g : genomes) out.push_back(score(g, 0));
    return out;
  }
  if (genomes.empty()) return out;
  const std::string what = "evaluating " + std::to_string(genomes.size()) + " candidates";
  comm->broadcast_bytes(json{{"genomes", genomes}}.dump(), 0, "sending the round's candidates");
  if (options_.data_parallel) {
    // Every rank runs every pass with rank 0, which has the whole trace.
    for (const Genome& g : genomes) out.push_back(score(g, -1));
    return out;
  }
  const std::vector<std::string> parts = comm->allgather(score_share(genomes), what);
  std::vector<json> shares;
  for (const std::string& p : parts) shares.push_back(json::parse(p));
  const auto size = static_cast<std::size_t>(comm->size());
  for (std::size_t i = 0; i < genomes.size(); ++i) {
    const json& r = shares[i % size].at(i / size);
    Scored sc;
    sc.rank = static_cast<int>(i % size);
    sc.ev.params = r.at("params").get<std::int64_t>();
    for (const json& v : r.at("values")) sc.ev.values.push_back(unwire(v));
    sc.ev.pass_seconds = r.at("pass_seconds").get<double>();
    sc.ev.proxy_seconds = r.at("proxy_seconds").get<double>();
    sc.seconds = r.at("seconds").get<double>();
    out.push_back(std::move(sc));
  }
  return out;
}

EngineResult Engine::run_worker() {
  Communicator& comm = *options_.comm;
  const auto t_start = Clock::now();
  EngineResult res;
  res.evaluated_per_rank.assign(static_cast<std::size_t>(comm.size()), 0);
  for (;;) {
    const json msg =
        json::parse(comm.broadcast_bytes("", 0, "waiting for rank 0's next candidates"));
    if (msg.value("failed", false)) {
      throw Error("rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) +
                  ": rank 0 ended the search with an error (its log names it)");
    }
    if (msg.value("stop", false)) break;
    const std::vector<Genome> genomes = msg.at("genomes").get<std::vector<Genome>>();
    const auto t0 = Clock::now();
    if (options_.data_parallel) {
      for (const Genome& g : genomes) score(g, -1);
      res.candidate_seconds += seconds_since(t0);
      for (std::int64_t& n : res.evaluated_per_rank) n += static_cast<std::int64_t>(genomes.size());
      res.evaluated += static_cast<std::int64_t>(genomes.size());
      continue;
    }
    const std::string mine = score_share(genomes);
    res.candidate_seconds += seconds_since(t0);
    const auto n = static_cast<std::int64_t>(
        (genomes.size() + static_cast<std::size_t>(comm.size() - comm.rank() - 1)) /
        static_cast<std::size_t>(comm.size()));  // i mod N == rank, for i < size
    res.evaluated_per_rank[static_cast<std::size_t>(comm.rank())] += n;
    res.evaluated += n;
    comm.allgather(mine, "evaluating " + std::to_string(genomes.size()) + " candidates");
  }
  res.stop_reason = "rank 0 ended the search";
  res.search_seconds = seconds_since(t_start);
  return res;
}

json candidate_json(const CandidateRecord& r, const Evaluator& evaluator, const ModelConfig& base) {
  json values = json::object();
  const auto& proxies = evaluator.proxies();
  for (std::size_t i = 0; i < proxies.size(); ++i)
    values[proxies[i].label] = value_json(r.values[i]);
  return {{"index", r.index},
          {"round", r.round},
          {"params", r.params},
          {"params_fraction",
           static_cast<double>(r.params) / static_cast<double>(evaluator.base_params())},
          {"objective", value_json(r.objective)},
          {"proxies", values},
          {"genome", r.genome},
          {"arch", json::parse(arch_to_json(r.arch, base))}};
}

}  // namespace tracenas
