// The `bayesian` search strategy: Gaussian-process Bayesian optimization with
// expected improvement (Jones, Schonlau & Welch 1998, "Efficient global
// optimization of expensive black-box functions").
//
// Encoding: gene j -> x_j = (g_j - lower_j) / (upper_j - lower_j) in [0, 1]
// (0 for a gene with a single value).
// Surrogate: a zero-mean GP on the standardized fitness of the valid
// observations, y = (f - mean f) / std f, with a Matern kernel (Rasmussen &
// Williams 2006, "Gaussian Processes for Machine Learning", eq. 4.14-4.17),
// r^2 = sum_j (x_j - x'_j)^2 / l_j^2:
//   nu = 1/2:  k = s2 exp(-r)
//   nu = 3/2:  k = s2 (1 + sqrt(3) r) exp(-sqrt(3) r)
//   nu = 5/2:  k = s2 (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)
// plus the noise variance n2 on the diagonal. `lengthscale: per_gene` (the
// default) fits one l_j per gene (ARD): depth and width genes act on the
// objective on different scales and many genes matter little; `shared` fits one.
// Hyperparameters theta = log(l, s2, n2) maximize, by Adam in float64
// (fit_iters steps, warm-started from the previous round; gradients by
// LibTorch autograd through the kernel and R&W eq. 5.9 for the Cholesky part),
//   log p(y | X) = -1/2 y^T K^-1 y - sum_i log L_ii - n/2 log(2 pi),  K = L L^T
// plus a weak log-normal prior log l_j ~ N(sqrt(2) + log(d)/2, 3) (Hvarfner,
// Hellsten & Nardi 2024, "Vanilla Bayesian optimization performs great in high
// dimensions"), which keeps the lengthscale of a gene the data hardly inform
// from running off. Above fit_max_points valid observations the fit uses a
// seeded subset of that size; the posterior always uses all of them.
// Acquisition: expected improvement over the best standardized value y*, with
// xi in standardized units, on the posterior of the latent f (one Cholesky
// factor per round; variances by one triangular solve for all candidates):
//   EI(x) = (mu - y* - xi) Phi(z) + sigma phi(z),  z = (mu - y* - xi) / sigma
// Candidates: pool_size samples of the constrained space plus local_candidates
// feasible mutations (1-2 genes: a depth flip or a width step of 1-2) of each
// of the local_best best observations; genomes already observed (valid or not)
// or pending are removed. ask(n) fills a batch by the constant liar
// (`batch: constant_liar`, propose()): pick the highest EI, add it (and every
// genome asked but not told) to the GP at the worst fitness seen, pick again;
// `batch: top_ei` returns the n highest EI of one posterior. The first initial_samples genomes are
// uniform samples, and so are the asks while fewer than 2 valid observations exist. Invalid
// observations stay out of the GP but are never proposed again.
//
// Every random draw comes from the one std::mt19937_64 seeded in start(), so
// the same seed and tells give the same asks (on the same machine and thread
// count: the linear algebra is deterministic there).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/random.hpp"
#include "tracenas/search.hpp"

namespace {

using tracenas::Genome;
using tracenas::Observation;

constexpr double kPi = 3.14159265358979323846;
constexpr double kJitter = 1e-8;  // added to the diagonal on top of the noise
constexpr double kAdamLr = 0.05;  // on the log-parameters
constexpr double kAdamBeta1 = 0.9;
constexpr double kAdamBeta2 = 0.999;
constexpr double kAdamEps = 1e-8;
constexpr double kFitTolerance = 1e-4;  // of the loss per observation
constexpr int kFitPatience = 5;
constexpr double kMinLogLengthscale = -6.9;  // l in [1e-3, 1e3]
constexpr double kMaxLogLengthscale = 6.9;
constexpr double kMinLogSignal = -4.6;  // s2 in [1e-2, 1e2] (targets standardized)
constexpr double kMaxLogSignal = 4.6;
constexpr double kMinLogNoise = -13.8;  // n2 in [1e-6, 1]
constexpr double kMaxLogNoise = 0.0;
constexpr double kPriorVariance = 3.0;  // of log l
constexpr int kSampleTries = 100;       // uniform samples drawn to find one not seen yet

using tracenas::uniform01;
using tracenas::uniform_int;

enum class Nu { kHalf, kThreeHalves, kFiveHalves };

// Squared Euclidean distances between the rows of a (m x d) and b (n x d).
at::Tensor sq_dist(const at::Tensor& a, const at::Tensor& b) {
  return (a.pow(2).sum(1, true) + b.pow(2).sum(1).unsqueeze(0) - 2 * a.matmul(b.t())).clamp_min(0);
}

// The Matern kernel of squared scaled distances d2 (r^2 above). When nothing
// needs a gradient it works in place on d2 (the posterior's m x n matrix:
// fewer passes over memory), so callers hand it a temporary.
at::Tensor matern_of_sq_dist(at::Tensor d2, Nu nu, const at::Tensor& signal_var) {
  const double c = nu == Nu::kHalf ? 1.0 : nu == Nu::kThreeHalves ? std::sqrt(3.0) : std::sqrt(5.0);
  if (at::GradMode::is_enabled() && (d2.requires_grad() || signal_var.requires_grad())) {
    // The clamp keeps the gradient of sqrt finite at r = 0 (it passes none there).
    const at::Tensor s = c * d2.clamp_min(1e-30).sqrt();
    const at::Tensor e = signal_var * at::exp(-s);
    if (nu == Nu::kHalf) return e;
    if (nu == Nu::kThreeHalves) return (1 + s) * e;
    return (1 + s + s * s / 3) * e;
  }
  at::Tensor s = d2.clamp_min_(0).sqrt_().mul_(c);
  at::Tensor k = at::exp(-s).mul_(signal_var);
  if (nu == Nu::kThreeHalves) k.mul_(s.add_(1));
  if (nu == Nu::kFiveHalves) k.mul_(at::square(s).div_(3).add_(s).add_(1));
  return k;
}

// k(x1_i, x2_j) for the rows of x1 (m x d) and x2 (n x d); `lengthscale` has
// d entries or one.
at::Tensor matern_kernel(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& lengthscale,
                         const at::Tensor& signal_var, Nu nu) {
  return matern_of_sq_dist(sq_dist(x1 / lengthscale, x2 / lengthscale), nu, signal_var);
}

struct Options {
  int initial_samples = 10;
  int pool_size = 2000;
  int local_best = 5;
  int local_candidates = 20;
  double xi = 0.01;
  Nu nu = Nu::kFiveHalves;
  bool shared_lengthscale = false;
  int fit_iters = 50;
  int fit_max_points = 300;
  bool constant_liar = true;  // batch: constant_liar (else top_ei)
};

class BayesianSearch final : public tracenas::SearchStrategy {
 public:
  explicit BayesianSearch(Options options) : opt_(options) {}

  void start(const tracenas::SearchSpace& space, std::uint64_t seed) override {
    space_ = &space;
    rng_.seed(seed);
    seen_.clear();
    pending_.clear();
    valid_genomes_.clear();
    valid_x_.clear();
    valid_f_.clear();
    theta_ = at::Tensor();
    dims_ = space.dims();
  }

  std::vector<Genome> ask(int n) override {
    std::vector<Genome> out;
    if (n <= 0) return out;
    c10::InferenceMode not_inference(false);  // enables autograd for the fit
    const auto known = static_cast<int>(seen_.size() + pending_.size());
    if (known < opt_.initial_samples || valid_f_.size() < 2) {
      const int k = known < opt_.initial_samples ? std::min(n, opt_.initial_samples - known) : n;
      for (int i = 0; i < k; ++i) {
        Genome g = space_->sample(rng_);
        for (int t = 1; t < kSampleTries && !is_new(g); ++t) g = space_->sample(rng_);
        if (!is_new(g)) continue;
        pending_.insert(g);
        out.push_back(std::move(g));
      }
      return out;
    }
    out = propose(n);
    for (const auto& g : out) pending_.insert(g);
    return out;
  }

  void tell(const std::vector<Observation>& results) override {
    for (const auto& r : results) {
      pending_.erase(r.genome);
      if (!seen_.insert(r.genome).second) continue;
      if (!r.valid || !std::isfinite(r.fitness)) continue;
      valid_genomes_.push_back(r.genome);
      valid_f_.push_back(r.fitness);
      const std::vector<double> x = encode(r.genome);
      valid_x_.insert(valid_x_.end(), x.begin(), x.end());
    }
  }

 private:
  bool is_new(const Genome& g) const { return seen_.count(g) == 0 && pending_.count(g) == 0; }

  std::vector<double> encode(const Genome& g) const {
    const auto& lo = space_->lower();
    const auto& hi = space_->upper();
    std::vector<double> x(dims_, 0.0);
    for (int j = 0; j < dims_; ++j) {
      if (hi[j] > lo[j])
        x[j] = static_cast<double>(g[j] - lo[j]) / static_cast<double>(hi[j] - lo[j]);
    }
    return x;
  }

  // [genomes, dims] float64: each genome encoded in [0, 1] per gene.
  at::Tensor encode_all(const std::vector<Genome>& genomes) const {
    std::vector<double> flat;
    flat.reserve(genomes.size() * dims_);
    for (const auto& g : genomes) {
      const std::vector<double> x = encode(g);
      flat.insert(flat.end(), x.begin(), x.end());
    }
    return at::tensor(flat, at::kDouble).view({static_cast<std::int64_t>(genomes.size()), dims_});
  }

  int num_lengthscales() const { return opt_.shared_lengthscale ? 1 : dims_; }
  double prior_mean() const { return std::sqrt(2.0) + 0.5 * std::log(std::max(dims_, 1)); }

  // theta [k + 2] float64 (k = num_lengthscales()): log lengthscales, log
  // signal variance, log noise variance.
  at::Tensor initial_theta() const {
    const int k = num_lengthscales();
    at::Tensor t = at::zeros({k + 2}, at::kDouble);
    // The prior's mode, exp(mean - variance); unit signal; small noise.
    t.slice(0, 0, k).fill_(prior_mean() - kPriorVariance);
    t[k] = 0.0;
    t[k + 1] = std::log(1e-3);
    return t;
  }

  at::Tensor clamp_theta(const at::Tensor& theta) const {
    const int k = num_lengthscales();
    at::Tensor t = theta.clone();
    t.slice(0, 0, k).clamp_(kMinLogLengthscale, kMaxLogLengthscale);
    t.slice(0, k, k + 1).clamp_(kMinLogSignal, kMaxLogSignal);
    t.slice(0, k + 1, k + 2).clamp_(kMinLogNoise, kMaxLogNoise);
    return t;
  }

  // K(x, x) + (n2 + jitter) I [n, n] for x [n, dims], differentiable in theta.
  at::Tensor covariance(const at::Tensor& theta, const at::Tensor& x, double jitter) const {
    const int k = num_lengthscales();
    const auto n = x.size(0);
    const at::Tensor xs = x / theta.slice(0, 0, k).exp();  // [n, dims], scaled
    const at::Tensor eye = at::eye(n, x.options());        // [n, n]
    // The diagonal distance is 0 exactly (the expanded form leaves rounding there).
    const at::Tensor kxx = matern_of_sq_dist(sq_dist(xs, xs) * (1 - eye), opt_.nu, theta[k].exp());
    return kxx + (theta[k + 1].exp() + jitter) * eye;
  }

  // The lower Cholesky factor [n, n] of `cov` [n, n]; undefined when it is not
  // positive definite.
  static at::Tensor cholesky(const at::Tensor& cov) {
    at::Tensor l, info;
    std::tie(l, info) = at::linalg_cholesky_ex(cov);
    if (info.item<std::int64_t>() != 0) return at::Tensor();
    return l;
  }

  // The loss -(log p(y | X) + log prior) / n at theta [k + 2] and its gradient
  // [k + 2], for observations x [n, dims], y [n] (standardized).
  // Autograd runs through the kernel only: the Cholesky part of the gradient
  // is the closed form d(-log p)/dK = (K^-1 - alpha alpha^T) / 2, alpha = K^-1 y
  // (Rasmussen & Williams eq. 5.9), which saves backpropagating through the
  // factorization (several n^3 solves per step). False when K is not positive
  // definite.
  bool loss_and_gradient(const at::Tensor& theta, const at::Tensor& x, const at::Tensor& y,
                         double* value, at::Tensor* gradient) const {
    const at::Tensor leaf = theta.detach().requires_grad_(true);
    const at::Tensor cov = covariance(leaf, x, kJitter);
    const auto n = static_cast<double>(x.size(0));
    at::Tensor weight;
    double nll = 0;
    {
      at::NoGradGuard no_grad;
      const at::Tensor l = cholesky(cov.detach());
      if (!l.defined()) return false;
      const at::Tensor alpha = at::cholesky_solve(y.unsqueeze(1), l);  // [n, 1] = K^-1 y
      nll = 0.5 * (y.unsqueeze(1) * alpha).sum().item<double>() +
            l.diagonal().log().sum().item<double>() + 0.5 * n * std::log(2 * kPi);
      weight = 0.5 * (at::cholesky_inverse(l) - alpha.matmul(alpha.t()));  // [n, n]
    }
    const at::Tensor prior =
        (leaf.slice(0, 0, num_lengthscales()) - prior_mean()).pow(2).sum() / (2 * kPriorVariance);
    *value = (nll + prior.item<double>()) / n;
    if (!std::isfinite(*value)) return false;
    ((weight * cov).sum() + prior).backward();
    *gradient = leaf.grad() / n;
    return gradient->defined();
  }

  // Adam on theta_ from its previous value (from the initial value when that
  // fails on the new data), keeping the best iterate.
  void fit(const at::Tensor& x, const at::Tensor& y) {
    if (!theta_.defined()) theta_ = initial_theta();
    at::AutoGradMode grad_mode(true);
    at::Tensor theta = theta_.clone();
    at::Tensor best;
    double best_loss = std::numeric_limits<double>::infinity();
    at::Tensor m = at::zeros_like(theta);
    at::Tensor v = at::zeros_like(theta);
    bool restarted = false;
    int stalled = 0;  // steps since the loss last fell by kFitTolerance
    for (int t = 1; t <= opt_.fit_iters; ++t) {
      double value = 0;
      at::Tensor g;
      if (!loss_and_gradient(theta, x, y, &value, &g)) {
        if (best.defined() || restarted) break;
        restarted = true;
        theta = initial_theta();
        t = 0;
        continue;
      }
      if (value < best_loss - kFitTolerance) {
        stalled = 0;
      } else if (++stalled >= kFitPatience) {
        break;  // converged (a warm start usually is within a few steps)
      }
      if (value < best_loss) {
        best_loss = value;
        best = theta.clone();
      }
      m = kAdamBeta1 * m + (1 - kAdamBeta1) * g;
      v = kAdamBeta2 * v + (1 - kAdamBeta2) * g * g;
      const at::Tensor m_hat = m / (1 - std::pow(kAdamBeta1, t));
      const at::Tensor v_hat = v / (1 - std::pow(kAdamBeta2, t));
      theta = clamp_theta(theta - kAdamLr * m_hat / (v_hat.sqrt() + kAdamEps));
    }
    if (best.defined()) theta_ = best;
  }

  Genome local_mutation(const Genome& base) {
    const auto& genes = space_->genes();
    const auto& lo = space_->lower();
    const auto& hi = space_->upper();
    Genome g = base;
    if (dims_ == 0) return g;
    const std::int64_t changes = uniform_int(rng_, 1, 2);
    for (std::int64_t c = 0; c < changes; ++c) {
      const auto j = static_cast<std::size_t>(uniform_int(rng_, 0, dims_ - 1));
      if (genes[j].is_depth()) {
        g[j] = lo[j] + hi[j] - g[j];
      } else {
        const std::int64_t step = uniform_int(rng_, 1, 2) * (uniform01(rng_) < 0.5 ? -1 : 1);
        g[j] = std::clamp(g[j] + step, lo[j], hi[j]);
      }
    }
    return g;
  }

  std::vector<Genome> candidates() {
    std::set<Genome> taken;
    std::vector<Genome> out;
    auto add = [&](Genome g) {
      if (is_new(g) && taken.insert(g).second) out.push_back(std::move(g));
    };
    for (int i = 0; i < opt_.pool_size; ++i) add(space_->sample(rng_));
    std::vector<std::size_t> order(valid_f_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return valid_f_[a] > valid_f_[b]; });
    const std::size_t best = std::min<std::size_t>(order.size(), opt_.local_best);
    for (std::size_t b = 0; b < best; ++b) {
      for (int i = 0; i < opt_.local_candidates; ++i) {
        Genome g = local_mutation(valid_genomes_[order[b]]);
        if (!space_->feasible(g)) g = space_->repair(g);
        if (space_->feasible(g)) add(std::move(g));
      }
    }
    return out;
  }

  std::vector<Genome> propose(int n) {
    const auto count = static_cast<std::int64_t>(valid_f_.size());
    const at::Tensor x = at::tensor(valid_x_, at::kDouble).view({count, dims_});  // [n, dims]
    at::Tensor y = at::tensor(valid_f_, at::kDouble);                             // [n]
    const double sd = y.std(/*unbiased=*/false).item<double>();
    y = (y - y.mean()) / (sd > 1e-12 ? sd : 1.0);

    if (count > opt_.fit_max_points) {  // a seeded subset: partial Fisher-Yates
      std::vector<std::int64_t> idx(count);
      std::iota(idx.begin(), idx.end(), 0);
      for (std::int64_t i = 0; i < opt_.fit_max_points; ++i) {
        std::swap(idx[i], idx[uniform_int(rng_, i, count - 1)]);
      }
      idx.resize(opt_.fit_max_points);
      std::sort(idx.begin(), idx.end());
      const at::Tensor sel = at::tensor(idx, at::kLong);
      fit(x.index_select(0, sel), y.index_select(0, sel));
    } else {
      fit(x, y);
    }

    std::vector<Genome> cands = candidates();
    if (cands.empty()) return {};
    const auto take = std::min<std::size_t>(cands.size(), static_cast<std::size_t>(n));

    at::NoGradGuard no_grad;
    const at::Tensor xc = encode_all(cands);  // [m, dims]
    const double best = y.max().item<double>();
    at::Tensor ei = expected_improvement(x, y, xc, best);
    if (!ei.defined()) {  // no usable surrogate: the first candidates (uniform samples)
      cands.resize(take);
      return cands;
    }
    std::vector<std::size_t> picked;
    if (!opt_.constant_liar || take == 1) {
      picked = best_of(ei, take, {});
    } else {
      // Constant liar (Ginsbourger, Le Riche & Carraro 2010, "Kriging is well-suited to
      // parallelize optimization"): each pick, and every genome asked but not told yet,
      // joins the GP as if observed at the worst fitness seen (CL-min), with the
      // hyperparameters kept; the next pick maximizes EI under that posterior, so a
      // batch spreads out instead of clustering round one optimum.
      const double lie = y.min().item<double>();
      std::vector<at::Tensor> xs = {x}, ys = {y};
      if (!pending_.empty()) {
        const at::Tensor xp = encode_all({pending_.begin(), pending_.end()});
        xs.push_back(xp);
        ys.push_back(at::full({xp.size(0)}, lie, at::kDouble));
        ei = expected_improvement(at::cat(xs), at::cat(ys), xc, best);
      }
      while (picked.size() < take) {
        if (!ei.defined()) break;  // the lies left K singular: the rest by the last EI
        const std::size_t i = best_of(ei, 1, picked).at(0);
        picked.push_back(i);
        if (picked.size() == take) break;
        xs.push_back(xc.slice(0, static_cast<std::int64_t>(i), static_cast<std::int64_t>(i) + 1));
        ys.push_back(at::full({1}, lie, at::kDouble));
        at::Tensor next = expected_improvement(at::cat(xs), at::cat(ys), xc, best);
        if (!next.defined()) {
          for (std::size_t j : best_of(ei, take - picked.size(), picked)) picked.push_back(j);
          break;
        }
        ei = next;
      }
    }
    std::vector<Genome> out;
    for (std::size_t i : picked) out.push_back(cands[i]);
    return out;
  }

  // EI [m] at the encoded candidates xc [m, dims] under the GP posterior given
  // observations x [n, dims], y [n] (standardized) and the current
  // hyperparameters, over the best value `best`; undefined when no jitter up
  // to 1e-2 makes the covariance positive definite.
  at::Tensor expected_improvement(const at::Tensor& x, const at::Tensor& y, const at::Tensor& xc,
                                  double best) const {
    at::Tensor l;
    for (double jitter = kJitter; jitter <= 1e-2 && !l.defined(); jitter *= 100) {
      l = cholesky(covariance(theta_, x, jitter));
    }
    if (!l.defined()) return l;
    const int k = num_lengthscales();
    const at::Tensor ls = theta_.slice(0, 0, k).exp();                             // [k]
    const at::Tensor s2 = theta_[k].exp();                                         // 0-dim
    const at::Tensor alpha = at::cholesky_solve(y.unsqueeze(1), l);                // [n, 1]
    const at::Tensor ks = matern_kernel(xc, x, ls, s2, opt_.nu);                   // [m, n]
    const at::Tensor mu = ks.matmul(alpha).squeeze(1);                             // [m]
    const at::Tensor v = at::linalg_solve_triangular(l, ks.t(), /*upper=*/false);  // [n, m]
    const at::Tensor sigma = (s2 - v.pow(2).sum(0)).clamp_min(1e-12).sqrt();       // [m]
    const at::Tensor improvement = mu - best - opt_.xi;                            // [m]
    const at::Tensor z = improvement / sigma;
    return (improvement * 0.5 * at::erfc(-z / std::sqrt(2.0)) +
            sigma * at::exp(-0.5 * z * z) / std::sqrt(2 * kPi))
        .contiguous();
  }

  // The `count` indices of highest EI (NaN lowest; the lower index first on
  // ties), leaving out `taken`.
  static std::vector<std::size_t> best_of(const at::Tensor& ei, std::size_t count,
                                          const std::vector<std::size_t>& taken) {
    const double* e = ei.data_ptr<double>();
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < static_cast<std::size_t>(ei.numel()); ++i) {
      if (std::find(taken.begin(), taken.end(), i) == taken.end()) order.push_back(i);
    }
    count = std::min(count, order.size());
    auto score = [&](std::size_t i) { return std::isnan(e[i]) ? -HUGE_VAL : e[i]; };
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count),
                      order.end(), [&](std::size_t a, std::size_t b) {
                        const double sa = score(a), sb = score(b);
                        return sa > sb || (sa == sb && a < b);
                      });
    order.resize(count);
    return order;
  }

  Options opt_;
  const tracenas::SearchSpace* space_ = nullptr;
  std::mt19937_64 rng_;
  int dims_ = 0;
  std::set<Genome> seen_;     // every genome told, valid or not
  std::set<Genome> pending_;  // asked, not told yet
  std::vector<Genome> valid_genomes_;
  std::vector<double> valid_x_;  // encoded valid genomes, row-major (count x dims_)
  std::vector<double> valid_f_;
  at::Tensor theta_;  // log(lengthscales..., signal variance, noise variance)
};

// The test includes this file to reach the kernel; it defines this macro to
// leave the entry point out of its own binary.
#ifndef TN_SEARCH_BAYESIAN_NO_ENTRY

std::unique_ptr<tracenas::SearchStrategy> make(const tracenas::ParamValues& p,
                                               const tracenas::RunContext&) {
  Options o;
  o.initial_samples = static_cast<int>(p.get_int("initial_samples"));
  o.pool_size = static_cast<int>(p.get_int("pool_size"));
  o.local_best = static_cast<int>(p.get_int("local_best"));
  o.local_candidates = static_cast<int>(p.get_int("local_candidates"));
  o.xi = p.get_float("xi");
  const std::string& nu = p.get_string("nu");
  o.nu = nu == "0.5" ? Nu::kHalf : nu == "1.5" ? Nu::kThreeHalves : Nu::kFiveHalves;
  o.shared_lengthscale = p.get_string("lengthscale") == "shared";
  o.fit_iters = static_cast<int>(p.get_int("fit_iters"));
  o.fit_max_points = static_cast<int>(p.get_int("fit_max_points"));
  o.constant_liar = p.get_string("batch") == "constant_liar";
  return std::make_unique<BayesianSearch>(o);
}

void register_components(tracenas::Registrar& r) {
  using tracenas::ParamSpec;
  r.add<tracenas::SearchStrategy>(
      "bayesian",
      "Gaussian-process surrogate (Matern kernel) with expected improvement over a pool of "
      "constrained samples and local mutations of the best",
      {ParamSpec::integer("initial_samples", 10, "uniform samples before the surrogate is used")
           .min(1),
       ParamSpec::integer("pool_size", 2000, "uniform samples scored by EI per ask").min(1),
       ParamSpec::integer("local_best", 5, "best observations whose mutations join the pool")
           .min(0),
       ParamSpec::integer("local_candidates", 20, "mutations of each of the local_best").min(0),
       ParamSpec::real("xi", 0.01, "EI exploration margin, in standard deviations of fitness")
           .min(0),
       ParamSpec::choice("nu", {"0.5", "1.5", "2.5"}, "2.5", "smoothness of the Matern kernel"),
       ParamSpec::choice("lengthscale", {"per_gene", "shared"}, "per_gene",
                         "one kernel lengthscale per gene (ARD) or one for all"),
       ParamSpec::integer("fit_iters", 50, "most Adam steps per hyperparameter fit (warm-started)")
           .min(0),
       ParamSpec::integer("fit_max_points", 300,
                          "observations the hyperparameter fit uses (a seeded subset above)")
           .min(2),
       ParamSpec::choice("batch", {"constant_liar", "top_ei"}, "constant_liar",
                         "how ask(n > 1) fills a batch: constant_liar (each pick joins the GP "
                         "at the worst fitness seen before the next is chosen) or top_ei (the "
                         "n highest EI of one posterior)")},
      make);
}

#endif  // TN_SEARCH_BAYESIAN_NO_ENTRY

}  // namespace

#ifndef TN_SEARCH_BAYESIAN_NO_ENTRY
TN_PLUGIN_WITH_SUMMARY("org.tracenas.search.bayesian", "0.1.0", "Apache-2.0",
                       "Bayesian-optimization search strategy", register_components)
#endif
