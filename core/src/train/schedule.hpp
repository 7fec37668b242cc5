// Learning-rate schedules of recovery training, and their validation.
//
// Schedules (lr_s for 0-based step s of T steps, peak lr, floor min_lr):
//   constant: lr_s = lr * (s + 1) / W for s < W (linear warm-up over W =
//             warmup_steps steps, none when W = 0), lr after.
//   cosine:   the same warm-up, then with D = T - W decay steps and
//             p = (s - W) / max(1, D - 1) (so the last step sits on the floor):
//             lr_s = min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2.
//   wsd:      the paper's two-stage warm-up. P = plateau_steps at plateau_lr;
//             then W warm-up steps from plateau_lr to lr:
//             lr_s = plateau_lr + (lr - plateau_lr) * (s - P + 1) / W;
//             then S = stable_steps at lr; then the remaining D = T - P - W - S
//             steps decay as cosine above with p = (s - P - W - S) / max(1, D - 1).
#pragma once

#include <cstdint>
#include <string>

namespace tracenas {

struct ScheduleOptions {
  std::string kind = "constant";  // constant | cosine | wsd
  double lr = 1e-4;               // peak
  double min_lr = 0.0;            // floor of the cosine decay
  std::int64_t warmup_steps = 0;
  std::int64_t plateau_steps = 0;  // wsd
  double plateau_lr = 0.0;         // wsd
  std::int64_t stable_steps = 0;   // wsd
  std::int64_t total_steps = 1;
};

// The names the fields of a schedule go by where the user gave them, so that
// a problem is reported in the user's own words.
struct ScheduleKeys {
  std::string kind, lr, min_lr, warmup_steps, plateau_steps, plateau_lr, stable_steps, total_steps;
  static ScheduleKeys options();   // `tracenas train`: --schedule, --lr, ..., --steps
  static ScheduleKeys pipeline();  // a pipeline's training section: schedule, lr, ..., steps
};

// What is wrong with the schedule, naming fields by `keys`; "" when nothing
// is: an unknown kind, a rate out of range, phases that do not fit in
// total_steps.
std::string schedule_problem(const ScheduleOptions& s, const ScheduleKeys& keys);

// The learning rate of 0-based optimizer step `step` (formulas above).
double scheduled_lr(const ScheduleOptions& s, std::int64_t step);

}  // namespace tracenas
