// The stories260K fixture of the training tests: the real model converted once
// into the test folder, its sample tokens, and small training options.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/llama2c.hpp"
#include "models/checkpoints.hpp"
#include "test_dir.hpp"
#include "tracenas/support/tokens.hpp"
#include "train/train.hpp"

namespace tracenas::stories_training {

struct Stories {
  std::string dir;
  ModelConfig config;
  std::vector<std::int32_t> tokens;
};

inline const Stories& stories() {
  static Stories* s = [] {
    auto* st = new Stories();
    st->dir = testing::test_path("tn_train_stories260K");
    convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", st->dir);
    st->config = testing::read_checkpoint_config(st->dir);
    st->tokens = read_token_file(TN_SHARED_DIR "/data/stories260K-samples.u16");
    return st;
  }();
  return *s;
}

inline std::shared_ptr<DecoderModel> load_model(const std::string& dir) {
  return testing::load_checkpoint(dir);
}

inline std::vector<std::int32_t> slice(const std::vector<std::int32_t>& v, std::size_t from,
                                       std::size_t n) {
  return {v.begin() + static_cast<std::ptrdiff_t>(from),
          v.begin() + static_cast<std::ptrdiff_t>(from + n)};
}

inline TrainOptions small_options(std::int64_t steps) {
  TrainOptions o;
  o.seq_len = 64;
  o.batch = 4;
  o.steps = steps;
  o.schedule.kind = "cosine";
  o.schedule.lr = 3e-3;
  o.schedule.min_lr = 3e-4;
  o.schedule.warmup_steps = 2;
  o.adamw.weight_decay = 0.01;
  o.clip = 1.0;
  return o;
}

}  // namespace tracenas::stories_training
