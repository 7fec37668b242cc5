// The BLAS thread count is found and set at run time (Debian's LibTorch runs
// its matmuls on OpenBLAS), and how passes share out the threads.
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

TEST(BlasThreads, SmallPassesShareOutPiecesMidSizedOnesOneBlasThreadLargeOnesAll) {
  struct Case {
    double tokens, in, out;
    int threads;
    long long pieces;
    int blas, shares;
  };
  const Case cases[] = {
      // stories260K: 1024 tokens x 64 x 172, about 1.1e7 multiply-adds, 2 batches of 4.
      {1024, 64, 172, 2, 8, 1, 2},
      {1024, 64, 172, 4, 8, 1, 4},
      {1024, 64, 172, 4, 3, 1, 3},
      // One piece, or one thread: nothing to share out; small stays on one BLAS thread.
      {1024, 64, 172, 2, 1, 1, 1},
      {1024, 64, 172, 1, 8, 1, 1},
      // The 31M benchmark model: 1024 x 512 x 1408, about 7.4e8 (below 2^30).
      {1024, 512, 1408, 2, 4, 1, 2},
      {1024, 512, 1408, 2, 1, 2, 1},
      // Just below and at 2^26, one piece; just below and at 2^30, two pieces.
      {1024, 256, 255, 2, 1, 1, 1},
      {1024, 256, 256, 2, 1, 2, 1},
      {1024, 1024, 1023, 2, 2, 1, 2},
      {1024, 1024, 1024, 2, 2, 2, 1},
      // Llama-3.2-1B shape at 256 tokens: 256 x 2048 x 8192.
      {256, 2048, 8192, 2, 4, 2, 1},
  };
  for (const Case& c : cases) {
    const PassThreads p = choose_pass_threads(c.tokens, c.in, c.out, c.threads, c.pieces);
    EXPECT_EQ(p.blas, c.blas) << c.tokens << " x " << c.in << " x " << c.out << ", " << c.threads
                              << " threads, " << c.pieces << " pieces";
    EXPECT_EQ(p.shares, c.shares) << c.tokens << " x " << c.in << " x " << c.out << ", "
                                  << c.threads << " threads, " << c.pieces << " pieces";
  }
}

TEST(BlasThreads, ScopeSetsTheCountAndPutsItBack) {
  RestoreBlasThreads restore;
  if (blas_threads() == 0) GTEST_SKIP() << "this process has no OpenBLAS";
  ASSERT_TRUE(set_blas_threads(2));
  {
    const BlasThreadsScope scope(1);
    EXPECT_EQ(blas_threads(), 1);
    {
      const BlasThreadsScope keep(0);  // leaves it
      EXPECT_EQ(blas_threads(), 1);
    }
    EXPECT_EQ(blas_threads(), 1);
  }
  EXPECT_EQ(blas_threads(), 2);
}

}  // namespace
}  // namespace tracenas
