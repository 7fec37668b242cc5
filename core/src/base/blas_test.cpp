// The BLAS thread count is found and set at run time (Debian's LibTorch runs
// its matmuls on OpenBLAS), and small passes get one thread.
#include "base/blas.hpp"

#include <gtest/gtest.h>

namespace tracenas {
namespace {

// Puts the thread count back after a test.
struct RestoreBlasThreads {
  int before = blas_threads();
  ~RestoreBlasThreads() {
    if (before > 0) set_blas_threads(before);
  }
};

TEST(BlasThreads, AreFoundAndSetAtRunTime) {
  RestoreBlasThreads restore;
  if (blas_threads() == 0) GTEST_SKIP() << "this process has no OpenBLAS";
  ASSERT_TRUE(set_blas_threads(1));
  EXPECT_EQ(blas_threads(), 1);
  ASSERT_TRUE(set_blas_threads(2));
  EXPECT_EQ(blas_threads(), 2);
  EXPECT_FALSE(set_blas_threads(0));
  EXPECT_EQ(blas_threads(), 2);
}

TEST(BlasThreads, SmallPassesGetOneThreadLargeOnesTheConfiguredCount) {
  RestoreBlasThreads restore;
  if (blas_threads() == 0) GTEST_SKIP() << "this process has no OpenBLAS";
  // stories260K: 1024 tokens x 64 x 172, about 1.1e7 multiply-adds.
  EXPECT_EQ(choose_blas_threads(1024, 64, 172, 2), 1);
  // The 31M benchmark model: 1024 x 512 x 1408, about 7.4e8.
  EXPECT_EQ(choose_blas_threads(1024, 512, 1408, 2), 2);
  // Just below and at 2^26.
  EXPECT_EQ(choose_blas_threads(1024, 256, 255, 2), 1);
  EXPECT_EQ(choose_blas_threads(1024, 256, 256, 2), 2);
}

}  // namespace
}  // namespace tracenas
