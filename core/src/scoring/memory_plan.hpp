// The memory plan: the peak memory of a search, scoring or study process on
// its device, estimated from the configuration alone before anything loads,
// so a run that cannot fit is refused with one line instead of dying hours
// later (DESIGN.md "Memory is a feature").
//
// The estimate adds, in bytes (e = bytes per element of the run's dtype,
// a = 4, or 8 for float64; T = micro_batch_size * seq_len tokens; H, G query
// and KV heads, h head_dim, d hidden, I MLP width, V vocabulary, L layers;
// P the projection parameters, R = sum over projections of r * (in + out)):
//   runtime      the process with LibTorch loaded (measured: about 0.3 GB)
//   weights      e * every parameter (one copy: the reordering is in place)
//   base traces  full: a * P (g_M);  sketch: 2 * a * R (A, B, G A^T, B^T G);
//                lora: (a + 8) * R_L (its factors, the base's float64 pairs)
//   candidate    full: a * P_C (its g_C);  sketch: (2 a + 8) * R_C (its sketches,
//                its restricted A and B, the float64 copies handed to proxies);
//                lora: (2 a + 8) * R_L,C the same way; synflow: 8 * P_C (the
//                float64 gradient of every kept |W|); all of them add up
//   activations  what the backward keeps, per kept layer:
//                  2 norms: (4 + e) * T * d each (the float32 input and the output)
//                  attention: e * T * (5 H h + 4 G h)  (q, k, v, rotations, output)
//                    plain: + a * B * H * S^2 (the probabilities)
//                    blockwise: + 4 * B * H * S (row log-sum-exp)
//                  MLP: 4 * e * T * I (gate, up, silu(gate), their product)
//                with run.activation_checkpointing: e * T * d per kept layer (its
//                input) plus the activations above of one layer
//                the passes run one after another, so the largest of them counts:
//                the gradient pass above; the LoRA pass (the same plus
//                e * T * r_L per projection of the kept layers, x A^T); the
//                observer's forward-only pass (output_grams, gate_kernel) over a
//                whole batch, one layer at a time, plus its float64 chunk
//                8 * B * min(2^22, S * max(d, I)); SynFlow's float64 pass over
//                one sequence, checkpointed, plus one layer's |W| copies
//                (8 * P / L) and e * V * d while the LM head's |W| is summed
//   loss         the LM head and loss of one chunk: (e + 12) * chunk * V, plus e * T * d
// (Not counted: a model whose projections are below 2^30 multiply-adds per
// forward runs, on a CPU with several threads, up to one whole batch per
// thread at once (PassOptions::parallel_batches, chosen when the Evaluator
// is made), holding that many batches' activations and, with full gradients,
// a g_C per thread; cut into row ranges, a batch's activations are no more
// than whole.)
// and takes the larger of the base pass (weights, g_M being formed, its
// activations) and a candidate pass (weights, base traces, g_C, activations
// of the candidate's share of the layers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scoring/trace.hpp"
#include "tracenas/model.hpp"
#include "tracenas/proxy.hpp"

namespace tracenas {

struct MemoryPlanInputs {
  ModelConfig config;
  std::string dtype = "float32";
  std::int64_t batch_size = 1;  // windows per calibration batch
  std::int64_t seq_len = 256;
  TraceNeeds needs;  // the union of the proxies' needs
  PassOptions pass;
  // The largest candidate, as a fraction of the base's projection parameters.
  double candidate_fraction = 1.0;
  // Optimizer state of recovery training (AdamW on float32 master weights of
  // this many parameters: weights, gradients and two moments), 0 for none.
  std::int64_t train_params = 0;
  // Passes split over ranks (run.distributed_split: batches): the allreduce's
  // bucket. The activations and traces stay those of one process's pass, an
  // upper bound on a rank's.
  bool data_parallel = false;
};

struct MemoryTerm {
  std::string name;  // "weights", "base traces", ...
  double bytes = 0;
  std::string shrink;  // the setting that would shrink it ("" when none does)
};

struct MemoryPlan {
  std::vector<MemoryTerm> terms;  // of the larger phase, biggest first
  double peak_bytes = 0;
  std::string phase;  // "base pass" or "candidate pass"
  const MemoryTerm& biggest() const { return terms.front(); }
  // One line: "peak 17.9 GB (candidate pass): weights 13.5 GB, ..."
  std::string summary() const;
};

MemoryPlan plan_memory(const MemoryPlanInputs& in);

// Bytes the device can still give: MemAvailable on the CPU, the free memory
// cudaMemGetInfo reports on CUDA (read through the CUDA runtime the process
// has loaded). Negative when unknown; `source` names where the figure came from.
double available_memory_bytes(const std::string& device, std::string* source);

// "1.23 GB"
std::string gigabytes(double bytes);

}  // namespace tracenas
