// The search engine: the ask/tell loop that turns a strategy's proposals into
// scored candidates under a budget, and survives being killed.
//
//   ask(n) -> genomes -> constraints (rejected for free, counted per reason)
//                     -> duplicates answered from the store (no pass, no budget)
//                     -> Evaluator::evaluate: one pass, every proxy
//                     -> one line appended to candidates.jsonl, flushed and fsynced
//          <- tell(observations, in the order asked)
//
// fitness = the objective proxy's value when higher is better, its negation
// when lower is better; a non-finite objective is an invalid observation and
// never selected. Budget: max_evaluations counts evaluated (new) candidates;
// time_limit_s is checked between candidates.
//
// Resume: the log is read back (a torn last line is dropped), the strategy is
// restarted with the same seed, and every genome it proposes that the log
// holds is answered from the log instead of evaluated. Because a strategy is
// deterministic for a seed and a sequence of tells, the replay retraces the
// interrupted run exactly and the search then continues where it stopped:
// no candidate is evaluated twice and the result equals an uninterrupted run.
//
// Candidate-parallel (EngineOptions::comm with more than one rank): rank 0
// runs the loop above alone (strategy, constraints, store, log); each round
// it sends the round's new candidates, in the order asked, to every rank;
// candidate i is evaluated by rank i mod N, each with its own model and base
// traces; the results come back to rank 0, which records and tells them in
// the order asked. The other ranks run only Engine::run's worker side until
// rank 0 says stop. Evaluation being deterministic, the candidates, their
// values and the best equal a one-process run's. Resuming works with any
// number of ranks: the log is rank 0's alone.
//
// Data-parallel (EngineOptions::data_parallel, for few expensive
// candidates): the round goes to every rank the same way, but every rank
// takes part in every candidate's pass, which splits the calibration batches
// over the ranks and sums what they accumulate (PassOptions::ranks); rank 0
// records the values it computed from the whole trace. The proxy values equal
// a one-process run's up to float rounding.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dist/communicator.hpp"
#include "plugin/registry.hpp"
#include "scoring/evaluator.hpp"
#include "search/search_space.hpp"
#include "tracenas/search.hpp"

namespace tracenas {

struct EngineOptions {
  std::int64_t max_evaluations = 0;  // 0: no limit (then time_limit_s must be set)
  double time_limit_s = 0;           // 0: no limit
  int ask_size = 8;                  // genomes asked per round
  int top_k = 10;
  std::uint64_t seed = 0;
  std::string run_dir;  // candidates.jsonl goes here
  bool resume = false;
  int objective = 0;  // index into the evaluator's proxies
  int progress = -1;  // 1: progress bar, 0: log lines, -1: bar when stderr is a terminal
  double log_every_s = 10;
  // Called after each candidate evaluated and appended to candidates.jsonl
  // (not for those replayed on --resume), with the count evaluated so far.
  std::function<void(std::int64_t evaluated)> on_recorded;
  // Candidate-parallel evaluation over these ranks (header comment); null or
  // one rank: this process evaluates every candidate.
  Communicator* comm = nullptr;
  // With comm: every rank runs every candidate's pass together, its
  // calibration batches split over the ranks (the evaluator's
  // set_pass_ranks), instead of one rank per candidate.
  bool data_parallel = false;
};

struct CandidateRecord {
  std::int64_t index = 0;  // order of evaluation
  int round = 0;
  Genome genome;
  Arch arch;
  std::int64_t params = 0;
  std::vector<double> values;  // one per proxy
  double objective = 0;
  double fitness = 0;
  bool valid = true;
  double seconds = 0;
  double pass_seconds = 0;
  double proxy_seconds = 0;
};

struct EngineResult {
  std::optional<CandidateRecord> best;
  std::vector<CandidateRecord> top;  // best first, valid only, at most top_k
  std::int64_t evaluated = 0;        // candidates scored (this run and, resumed, before)
  std::int64_t replayed = 0;         // of which answered from the log on resume
  std::int64_t duplicates = 0;
  std::int64_t invalid = 0;                      // non-finite objective
  std::map<std::string, std::int64_t> rejected;  // per reason (search_space.hpp)
  std::int64_t rounds = 0;
  std::string stop_reason;  // "max_evaluations", "time_limit", "strategy_done", "stalled"
  // Evaluation time, summed over the ranks (data-parallel: rank 0's).
  double candidate_seconds = 0;
  double search_seconds = 0;  // the whole loop of this process
  // Candidates each rank evaluated (data-parallel: took part in) in this run
  // (one entry per rank; replayed ones not counted).
  std::vector<std::int64_t> evaluated_per_rank;
};

class Engine {
 public:
  Engine(Evaluator& evaluator, const ArchSpace& space, Instance<SearchStrategy>& strategy,
         EngineOptions options);
  EngineResult run();

  // The path of the candidate log in a run folder.
  static std::string log_path(const std::string& run_dir);

 private:
  nlohmann::json record_json(const CandidateRecord& r) const;
  std::optional<CandidateRecord> record_from_json(const nlohmann::json& j) const;
  std::map<Genome, CandidateRecord> read_log(const std::string& path) const;
  // One candidate's evaluation as rank 0 needs it (values, params, seconds).
  struct Scored {
    Evaluation ev;
    double seconds = 0;
    int rank = 0;
  };
  Scored score(const Genome& g, int rank);
  // The candidates `genomes`, in order: here, or spread over the ranks.
  std::vector<Scored> score_all(const std::vector<Genome>& genomes);
  // This rank's share of a round (i mod N == rank), as the bytes sent back.
  std::string score_share(const std::vector<Genome>& genomes);
  // Ranks other than 0: evaluate what rank 0 sends until it says stop.
  EngineResult run_worker();

  Evaluator& evaluator_;
  const ArchSpace& space_;
  Instance<SearchStrategy>& strategy_;
  EngineOptions options_;
};

// A candidate record as the JSON used by best.json and summary.json.
nlohmann::json candidate_json(const CandidateRecord& r, const Evaluator& evaluator,
                              const ModelConfig& base);

}  // namespace tracenas
