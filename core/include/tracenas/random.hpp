// Portable random draws for components that must be deterministic for a
// seed on every platform: unlike std::uniform_*_distribution, whose output
// the C++ standard leaves to the library, these give the same numbers from
// the same std::mt19937_64 everywhere.
#pragma once

#include <cstdint>
#include <random>

namespace tracenas {

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

// Uniform integer in [lo, hi] (unbiased, by rejection).
inline std::int64_t uniform_int(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
  if (span == 0) return static_cast<std::int64_t>(rng());
  const std::uint64_t threshold = (0 - span) % span;  // 2^64 mod span
  std::uint64_t x = rng();
  while (x < threshold) x = rng();
  return lo + static_cast<std::int64_t>(x % span);
}

}  // namespace tracenas
