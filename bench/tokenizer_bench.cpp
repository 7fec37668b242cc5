// Tokenizer benchmark: encode throughput of the `hf_tokenizer` plugin on the whole of
// shared/data/wikitext2-test.raw with the Llama 3 and Qwen3 tokenizer.json files.
//
// What it is for: checking the plugin against the reference throughput stated in
// shared/reference/tokenizers/README.md (Hugging Face's Rust `tokenizers` 0.23.2 and
// transformers.js, same file as one string, single process, median of 3 after a warm-up;
// the target is at least 3x the Rust library's bytes/s).
// What it runs: per tokenizer, one warm-up encode (fills the word cache, as the reference's
// warm-up does) then 3 timed encodes of the whole file as one string, single-threaded,
// add_special_tokens = false. It prints the first (cold cache) encode's bytes/s, the median
// wall-clock bytes/s and tokens/s, the same over this thread's CPU time (fairer on a loaded
// machine), and the reference figures, then ONE JSON line.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "plugin/registry.hpp"
#include "tracenas/tokenizer.hpp"

namespace {

using tracenas::Instance;
using tracenas::Tokenizer;

constexpr const char* kText = TN_SHARED_DIR "/data/wikitext2-test.raw";

struct Reference {
  const char* name;
  double rust_bytes, rust_tokens, js_bytes, js_tokens;  // per second
};
// shared/reference/tokenizers/README.md, "Throughput of the reference implementations".
constexpr Reference kReferences[] = {{"llama3", 2.01e6, 450e3, 1.60e6, 358e3},
                                     {"qwen3", 1.16e6, 269e3, 0.82e6, 190e3}};

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main() {
  std::ifstream in(kText, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (text.empty()) {
    std::cerr << kText << ": cannot read the text\n";
    return 1;
  }
  tracenas::Registry registry;
  registry.load_file(TN_PLUGIN_DIR "/libtracenas_tokenizer_hf.so");
  nlohmann::json figures = nlohmann::json::object();
  std::printf("encoding %s (%zu bytes) as one string, single-threaded, median of 3\n", kText,
              text.size());
  for (const Reference& ref : kReferences) {
    tracenas::ParamValues p;
    p.set("path", std::string(TN_SHARED_DIR "/tokenizers/") + ref.name);
    const auto t0 = std::chrono::steady_clock::now();
    Instance<Tokenizer> tok = registry.create<Tokenizer>("hf_tokenizer", p, tracenas::RunContext());
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::size_t n_tokens = 0;
    auto encode = [&] {
      n_tokens = tok.call("encode", [&](Tokenizer& t) { return t.encode(text, false); }).size();
    };
    const auto c0 = std::chrono::steady_clock::now();
    encode();  // warm-up (empty word cache: the cost of a first pass over new text)
    const double cold_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    std::vector<double> wall, cpu;
    for (int k = 0; k < 3; ++k) {
      const double c0 = cpu_seconds();
      const auto w0 = std::chrono::steady_clock::now();
      encode();
      wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
      cpu.push_back(cpu_seconds() - c0);
    }
    const double w = median(wall);
    const double c = median(cpu);
    const double bytes = static_cast<double>(text.size());
    const double tokens = static_cast<double>(n_tokens);
    std::printf(
        "%-7s load %.2f s, %zu tokens; first (cold cache) encode %.2f MB/s\n"
        "        wall: %6.2f MB/s %7.0f k tokens/s  (%.2fx Rust bytes/s)\n"
        "        cpu:  %6.2f MB/s %7.0f k tokens/s  (%.2fx Rust bytes/s)\n"
        "        reference Rust tokenizers: %.2f MB/s %.0f k tokens/s; transformers.js: "
        "%.2f MB/s %.0f k tokens/s\n",
        ref.name, load_s, n_tokens, static_cast<double>(text.size()) / cold_s / 1e6,
        bytes / w / 1e6, tokens / w / 1e3, bytes / w / ref.rust_bytes, bytes / c / 1e6,
        tokens / c / 1e3, bytes / c / ref.rust_bytes, ref.rust_bytes / 1e6, ref.rust_tokens / 1e3,
        ref.js_bytes / 1e6, ref.js_tokens / 1e3);
    figures[ref.name] = {{"tokens", n_tokens},
                         {"load_s", load_s},
                         {"cold_bytes_per_s", static_cast<double>(text.size()) / cold_s},
                         {"wall_bytes_per_s", bytes / w},
                         {"wall_tokens_per_s", tokens / w},
                         {"cpu_bytes_per_s", bytes / c},
                         {"cpu_tokens_per_s", tokens / c},
                         {"rust_bytes_per_s", ref.rust_bytes},
                         {"rust_tokens_per_s", ref.rust_tokens},
                         {"wall_speedup_vs_rust", bytes / w / ref.rust_bytes}};
  }
  nlohmann::json out = {{"bench", "tokenizer"}, {"bytes", text.size()}, {"figures", figures}};
  std::cout << out.dump() << std::endl;
  return 0;
}
