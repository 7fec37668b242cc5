// Ranks as threads of the test process: `n` threads, each with its own c10d
// Gloo group on one in-process store (dist/communicator.hpp), running
// `body(rank, group)`. Returns each rank's failure ("" when it finished).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dist/communicator.hpp"

namespace tracenas::testing {

inline std::vector<std::string> run_thread_ranks(
    int n, const std::function<void(int, Communicator&)>& body,
    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto store = make_shared_store();
  std::vector<std::string> failure(static_cast<std::size_t>(n));
  auto rank_main = [&](int rank) {
    try {
      GroupOptions g;
      g.rank = rank;
      g.size = n;
      g.shared = store;
      g.hostname = "127.0.0.1";
      g.timeout = timeout;
      std::unique_ptr<Communicator> comm = make_process_group(g);
      body(rank, *comm);
    } catch (const std::exception& e) {
      failure[static_cast<std::size_t>(rank)] = e.what();
    }
  };
  std::vector<std::thread> others;
  for (int r = 1; r < n; ++r) others.emplace_back(rank_main, r);
  rank_main(0);
  for (std::thread& t : others) t.join();
  return failure;
}

}  // namespace tracenas::testing
