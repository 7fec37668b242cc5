#include "run/distributed.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

TEST(LocalGpu, LocalRankAmongTheVisibleDevicesElseModulo) {
  // torchrun on a node of 8: every rank sees all 8 and takes its own.
  EXPECT_EQ(local_gpu(0, 8), 0);
  EXPECT_EQ(local_gpu(5, 8), 5);
  // srun --gpus-per-task=1: each rank sees only its own GPU, as device 0.
  EXPECT_EQ(local_gpu(5, 1), 0);
  // Two GPUs per task, four tasks per node: local ranks 0..3 see 2 each.
  EXPECT_EQ(local_gpu(3, 2), 1);
  try {
    local_gpu(2, 0);
    FAIL() << "no visible device must be refused";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("LOCAL_RANK=2: this process sees no CUDA device"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tracenas
