// Proxy benchmark: the seconds per candidate of a search with every built-in
// proxy on (one forward/backward pass + the proxies' arithmetic), for the
// unpruned model and a half-size candidate, next to the machine's dense-matmul
// rate measured in this process; and the start-up of a run (importance + base
// traces) cold and with the on-disk cache warm.
//
// Model: the benchmark model of bench_model.hpp, batch 4 x seq 256, K = 1
// (zico needs K >= 2 and is measured with --batches 2). A benchmark, not a
// test: it prints figures, then ONE JSON object with all of them.
//
// With --pipeline FILE it instead times the candidates of that pipeline's
// search as `tracenas run` builds them (its model, calibration batches,
// importance criterion, proxies and space): --candidates N feasible genomes
// drawn from the space (seeded), each evaluated --reps times after one
// warm-up evaluation, reporting the median per candidate and over all.
//
// Run: OMP_WAIT_POLICY=PASSIVE tracenas_bench_proxy [--threads N] [--reps N] [--batches K]
//      OMP_WAIT_POLICY=PASSIVE tracenas_bench_proxy --pipeline configs/quickstart.yaml
//          [--threads N] [--reps N] [--candidates N] [--set key=value ...]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/runtime.hpp"
#include "bench_model.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/session.hpp"
#include "plugin/registry.hpp"
#include "scoring/evaluator.hpp"
#include "search/search_space.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

using namespace bench;  // NOLINT(build/namespaces)

struct Options {
  int threads = 2;
  int reps = 3;
  int batches = 1;
  std::string pipeline;
  std::vector<std::string> sets;  // --set key=value for the pipeline
  int candidates = 12;
};

ScoredProxy make_proxy(const Registry& reg, const std::string& name, const std::string& label,
                       ParamValues p = {}) {
  for (const auto& s : reg.require(ComponentKind::kProxy, name)->info.params) {
    if (!p.has(s.name)) p.set(s.name, s.default_value);
  }
  return {label, name, reg.create<Proxy>(name, p, RunContext{})};
}

std::vector<ScoredProxy> all_proxies(const Registry& reg, int batches) {
  std::vector<ScoredProxy> ps;
  ps.push_back(make_proxy(reg, "trace_correlation", "trace_correlation"));
  ParamValues sk;
  sk.set("gradient", std::string("sketch"));
  ps.push_back(make_proxy(reg, "trace_correlation", "trace_correlation_sketch", sk));
  for (const char* n :
       {"loss", "kl_to_parent", "grad_norm", "snip", "fisher", "param_count", "random"}) {
    ps.push_back(make_proxy(reg, n, n));
  }
  if (batches >= 2) ps.push_back(make_proxy(reg, "zico", "zico"));
  return ps;
}

int run(const Options& opt) {
  RunContext rc;
  rc.threads = opt.threads;
  rc.device = "cpu";
  apply_runtime(rc);
  Registry reg;
  for (const char* f :
       {"libtracenas_importance_criteria.so", "libtracenas_proxy_trace_correlation.so",
        "libtracenas_proxy_gradient_baselines.so", "libtracenas_proxy_baselines.so"}) {
    reg.load_file(std::string(TN_PLUGIN_DIR) + "/" + f);
  }
  const ModelConfig c = bench_config();
  auto model = std::make_shared<DecoderModel>(c, random_weights(c));
  at::manual_seed(kSeed + 1);
  std::vector<at::Tensor> batches;
  for (int k = 0; k < opt.batches; ++k) {
    batches.push_back(at::randint(c.vocab_size, {kBatch, kSeq}, at::kLong));
  }
  // The model "folder" of the cache key: a file standing for the checkpoint.
  const fs::path work =
      fs::temp_directory_path() / ("tracenas_bench_proxy_" + std::to_string(::getpid()));
  fs::create_directories(work / "model");
  std::ofstream(work / "model" / "config.json") << "{\"bench\": true}\n";
  auto inputs = [&](const std::string& cache) {
    EvaluatorInputs in;
    in.model = model;
    in.model_dir = (work / "model").string();
    in.batches = batches;
    in.data_fingerprint = "bench-random-tokens";
    in.criterion = "wanda";
    in.criterion_instance = reg.create<ImportanceCriterion>("wanda", {}, RunContext{});
    in.proxies = all_proxies(reg, opt.batches);
    in.cache_dir = cache;
    return in;
  };

  const double dense_before = dense_matmul_gflops();
  // Start-up, cold (computes importance and base traces, writes the cache) and warm.
  auto t0 = std::chrono::steady_clock::now();
  Evaluator cold(inputs((work / "cache").string()));
  cold.prepare();
  const double cold_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  Evaluator warm(inputs((work / "cache").string()));
  warm.prepare();
  const double warm_s = seconds_since(t0);
  const bool warm_hit = warm.importance_from_cache() && warm.traces_from_cache();

  const Arch full = full_arch(c);
  const Arch half = half_candidate(c, 4, 1);
  json rows = json::array();
  std::printf("candidate seconds (median of %d, after one warm-up), %d proxies, K = %d\n", opt.reps,
              static_cast<int>(warm.proxies().size()), opt.batches);
  std::printf("%-8s %10s %10s %10s %9s %10s %8s\n", "model", "params", "pass s", "proxies s",
              "proxy %", "GFLOP/s", "of dense");
  std::vector<std::pair<const char*, const Arch*>> cands = {{"full", &full}, {"half", &half}};
  const double dense_after = dense_matmul_gflops();
  const double dense = std::max(dense_before, dense_after);
  for (const auto& [name, arch] : cands) {
    warm.evaluate(*arch);  // warm-up
    std::vector<double> pass, prox;
    std::vector<std::vector<double>> each(warm.proxies().size());
    std::int64_t params = 0;
    for (int r = 0; r < opt.reps; ++r) {
      Evaluation e = warm.evaluate(*arch);
      pass.push_back(e.pass_seconds);
      prox.push_back(e.proxy_seconds);
      for (std::size_t i = 0; i < each.size(); ++i) each[i].push_back(e.proxy_each_seconds[i]);
      params = e.params;
    }
    json per_proxy = json::object();
    for (std::size_t i = 0; i < each.size(); ++i) {
      per_proxy[warm.proxies()[i].label] = median(each[i]);
    }
    const double p = median(pass), q = median(prox);
    const Flops f = count_flops(c, *arch, kBatch, kSeq);
    const double gflops = f.total() * opt.batches / p / 1e9;
    const double share = q / (p + q);
    std::printf("%-8s %10lld %10.3f %10.4f %8.1f%% %10.1f %7.0f%%\n", name,
                static_cast<long long>(params), p, q, 100 * share, gflops, 100 * gflops / dense);
    rows.push_back({{"candidate", name},
                    {"params", params},
                    {"pass_seconds", p},
                    {"proxy_seconds", q},
                    {"proxy_share", share},
                    {"pass_gflops", gflops},
                    {"fraction_of_dense", gflops / dense},
                    {"proxy_seconds_each", per_proxy}});
  }
  std::printf("dense fp32 matmul: %.1f GFLOP/s (best of before/after)\n", dense);
  std::printf("start-up: cold %.3f s, cached %.3f s (%.1fx faster; cache %s)\n", cold_s, warm_s,
              cold_s / warm_s, warm_hit ? "hit" : "MISSED");
  std::printf("targets: proxy arithmetic <= 10%% of a candidate; cached start-up >= 5x faster\n");
  fs::remove_all(work);
  json out = {{"threads", opt.threads},
              {"batch", kBatch},
              {"seq", kSeq},
              {"batches", opt.batches},
              {"dense_gflops", dense},
              {"candidates", rows},
              {"startup_cold_seconds", cold_s},
              {"startup_cached_seconds", warm_s},
              {"startup_speedup", cold_s / warm_s},
              {"cache_hit", warm_hit}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// Minor page faults of this process so far.
long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// The candidates of a pipeline's search, timed as the search runs them.
int run_pipeline(const Options& opt) {
  Registry reg;
  const Pipeline p = load_pipeline(opt.pipeline, opt.sets, reg);
  RunContext rc = p.run_context();
  rc.threads = opt.threads;
  rc.run_dir.clear();
  rc.cache_dir.clear();  // importance and base traces computed, not read
  rc = apply_runtime(rc);
  // The dense rate with every configured BLAS thread (the Evaluator may
  // choose one for a small model: runtime.hpp).
  const double dense_before = dense_matmul_gflops();
  auto t0 = std::chrono::steady_clock::now();
  PipelineSession session = open_session(reg, p, rc);
  std::unique_ptr<Evaluator> ev = make_evaluator(session);
  ev->prepare();
  const double prepare_s = seconds_since(t0);
  const ModelConfig& c = ev->config();
  std::unique_ptr<ArchSpace> space = make_space(p, c, rc.dtype);
  std::mt19937_64 rng(rc.seed);
  const PassThreads pass_threads = ev->pass_threads();
  const int pass_blas_threads = pass_threads.blas > 0 ? pass_threads.blas : blas_threads();
  std::vector<double> all_s, all_pass, all_prox, fractions;
  json rows = json::array();
  int64_t tokens = 0;
  for (const at::Tensor& b : session.batches) tokens += b.numel();
  std::printf("pipeline %s: %s, %lld calibration tokens in %zu batch(es), %zu proxies\n",
              opt.pipeline.c_str(), session.model_dir.c_str(), static_cast<long long>(tokens),
              session.batches.size(), ev->proxies().size());
  std::printf(
      "start-up (load, importance, base traces): %.3f s; BLAS threads in the passes: %d, "
      "pieces at once: %d\n",
      prepare_s, pass_blas_threads, pass_threads.shares);
  std::printf("%-4s %9s %8s %10s %10s %10s %10s %10s\n", "#", "params", "of base", "eval s",
              "pass s", "proxies s", "GFLOP/s", "faults MiB");
  double flops_sum = 0, pass_sum = 0;
  for (int i = 0; i < opt.candidates; ++i) {
    const Arch arch = space->decode(space->sample(rng));
    ev->evaluate(arch);  // warm-up
    std::vector<double> s, pass, prox, faults;
    std::int64_t params = 0;
    for (int r = 0; r < opt.reps; ++r) {
      const auto t = std::chrono::steady_clock::now();
      const long faults0 = minor_faults();
      const Evaluation e = ev->evaluate(arch);
      s.push_back(seconds_since(t));
      faults.push_back(static_cast<double>(minor_faults() - faults0) * 4096 / (1 << 20));
      pass.push_back(e.pass_seconds);
      prox.push_back(e.proxy_seconds);
      params = e.params;
    }
    double flops = 0;
    for (const at::Tensor& b : session.batches) {
      flops += count_flops(c, arch, b.size(0), b.size(1)).total();
    }
    const double frac = static_cast<double>(space->scoped_params(arch)) /
                        static_cast<double>(space->scoped_params(full_arch(c)));
    const double m = median(s), mp = median(pass), mq = median(prox);
    all_s.push_back(m);
    all_pass.push_back(mp);
    all_prox.push_back(mq);
    fractions.push_back(frac);
    flops_sum += flops;
    pass_sum += mp;
    std::printf("%-4d %9lld %7.1f%% %10.4f %10.4f %10.4f %10.1f %10.1f\n", i,
                static_cast<long long>(params), 100 * frac, m, mp, mq, flops / mp / 1e9,
                median(faults));
    rows.push_back({{"params", params},
                    {"faults_mib", median(faults)},
                    {"fraction", frac},
                    {"seconds", m},
                    {"pass_seconds", mp},
                    {"proxy_seconds", mq},
                    {"flops", flops}});
  }
  set_blas_threads(opt.threads);
  const double dense = std::max(dense_before, dense_matmul_gflops());
  const double gflops = flops_sum / pass_sum / 1e9;
  std::printf(
      "median over candidates: evaluate %.4f s (pass %.4f s, proxies %.4f s), %.1f%% of "
      "the base's %s parameters\n",
      median(all_s), median(all_pass), median(all_prox), 100 * median(fractions),
      space->constraints().non_embedding ? "non-embedding" : "");
  std::printf("pass rate: %.1f GFLOP/s, %.0f%% of the dense fp32 matmul rate (%.1f GFLOP/s)\n",
              gflops, 100 * gflops / dense, dense);
  json out = {{"benchmark", "tracenas_bench_proxy"},
              {"pipeline", opt.pipeline},
              {"threads", opt.threads},
              {"reps", opt.reps},
              {"tokens", tokens},
              {"startup_seconds", prepare_s},
              {"blas_threads", pass_blas_threads},
              {"pieces_at_once", pass_threads.shares},
              {"dense_gflops", dense},
              {"candidates", rows},
              {"median_seconds", median(all_s)},
              {"median_pass_seconds", median(all_pass)},
              {"median_proxy_seconds", median(all_prox)},
              {"pass_gflops", gflops}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace tracenas

int main(int argc, char** argv) {
  tracenas::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--pipeline")
      o.pipeline = argv[i + 1];
    else if (k == "--set")
      o.sets.push_back(argv[i + 1]);
    else if (k == "--candidates")
      o.candidates = v;
    else if (k == "--threads")
      o.threads = v;
    else if (k == "--reps")
      o.reps = v;
    else if (k == "--batches")
      o.batches = v;
    else {
      std::fprintf(stderr,
                   "usage: tracenas_bench_proxy [--threads N] [--reps N] [--batches K]\n"
                   "       tracenas_bench_proxy --pipeline FILE [--threads N] [--reps N] "
                   "[--candidates N] [--set key=value ...]\n");
      return 2;
    }
  }
  if (o.threads < 1 || o.reps < 1 || o.batches < 1 || o.candidates < 1) {
    std::fprintf(stderr, "tracenas_bench_proxy: values must be >= 1\n");
    return 2;
  }
  try {
    return o.pipeline.empty() ? tracenas::run(o) : tracenas::run_pipeline(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tracenas_bench_proxy: %s\n", e.what());
    return 2;
  }
}
