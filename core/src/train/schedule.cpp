#include "train/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace tracenas {
namespace {

constexpr double kPi = 3.14159265358979323846;

// lr at position p in [0, 1] of a cosine decay from `peak` to `floor`.
double cosine_at(double peak, double floor, std::int64_t done, std::int64_t decay_steps) {
  const double p =
      std::min(1.0, static_cast<double>(done) /
                        static_cast<double>(std::max<std::int64_t>(1, decay_steps - 1)));
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(kPi * p));
}

std::string num(double v) { return std::to_string(v); }
std::string num(std::int64_t v) { return std::to_string(v); }

}  // namespace

ScheduleKeys ScheduleKeys::options() {
  return {"--schedule",      "--lr",         "--min-lr",       "--warmup-steps",
          "--plateau-steps", "--plateau-lr", "--stable-steps", "--steps"};
}

ScheduleKeys ScheduleKeys::pipeline() {
  return {"schedule",      "lr",         "min_lr",       "warmup_steps",
          "plateau_steps", "plateau_lr", "stable_steps", "steps"};
}

std::string schedule_problem(const ScheduleOptions& s, const ScheduleKeys& k) {
  if (s.kind != "constant" && s.kind != "cosine" && s.kind != "wsd") {
    return k.kind + ": unknown schedule '" + s.kind + "' (expected constant, cosine or wsd)";
  }
  if (!(s.lr > 0) || !std::isfinite(s.lr)) {
    return k.lr + " must be a positive number (got " + num(s.lr) + ")";
  }
  if (s.min_lr < 0 || s.min_lr > s.lr) {
    return k.min_lr + " must be in 0.." + k.lr + " (got " + num(s.min_lr) + ")";
  }
  if (s.warmup_steps < 0 || s.plateau_steps < 0 || s.stable_steps < 0) {
    return "step counts of the schedule must not be negative";
  }
  if (s.kind == "wsd") {
    if (s.plateau_lr < 0 || s.plateau_lr > s.lr) {
      return k.plateau_lr + " must be in 0.." + k.lr + " (got " + num(s.plateau_lr) + ")";
    }
    const std::int64_t phases = s.plateau_steps + s.warmup_steps + s.stable_steps;
    if (phases > s.total_steps) {
      return k.plateau_steps + " + " + k.warmup_steps + " + " + k.stable_steps + " (" +
             num(phases) + ") exceed " + k.total_steps + " (" + num(s.total_steps) + ")";
    }
  } else if (s.warmup_steps > s.total_steps) {
    return k.warmup_steps + " (" + num(s.warmup_steps) + ") exceeds " + k.total_steps + " (" +
           num(s.total_steps) + ")";
  }
  return "";
}

double scheduled_lr(const ScheduleOptions& s, std::int64_t step) {
  const std::int64_t W = s.warmup_steps;
  if (s.kind == "wsd") {
    const std::int64_t P = s.plateau_steps, S = s.stable_steps;
    if (step < P) return s.plateau_lr;
    if (step < P + W) {
      return s.plateau_lr +
             (s.lr - s.plateau_lr) * static_cast<double>(step - P + 1) / static_cast<double>(W);
    }
    if (step < P + W + S) return s.lr;
    return cosine_at(s.lr, s.min_lr, step - P - W - S, s.total_steps - P - W - S);
  }
  if (step < W) return s.lr * static_cast<double>(step + 1) / static_cast<double>(W);
  if (s.kind == "cosine") return cosine_at(s.lr, s.min_lr, step - W, s.total_steps - W);
  return s.lr;
}

}  // namespace tracenas
