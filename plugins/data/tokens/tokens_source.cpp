// The `tokens` data source: token ids from a `.u16`, `.u32` or `.txt` file
// (SPEC.md section 1; windows and batches are cut by the core).
#include <filesystem>

#include "tracenas/data.hpp"
#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/tokens.hpp"

namespace {

namespace fs = std::filesystem;
using tracenas::ParamSpec;

class TokensSource final : public tracenas::DataSource {
 public:
  explicit TokensSource(std::string path) : path_(std::move(path)) {
    std::error_code ec;
    if (!fs::is_regular_file(path_, ec)) {
      throw tracenas::DataError("data.params.path: no such token file (got " + path_ + ")");
    }
  }

  std::string fingerprint() const override {
    std::error_code ec;
    auto size = fs::file_size(path_, ec);
    auto mtime = fs::last_write_time(path_, ec).time_since_epoch().count();
    return "tokens:" + fs::absolute(path_).string() + "#size=" + std::to_string(size) +
           "#mtime=" + std::to_string(mtime);
  }

  std::vector<std::int32_t> token_stream() override { return tracenas::read_token_file(path_); }

 private:
  std::string path_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::DataSource>(
      "tokens", "token ids from a .u16 / .u32 (little-endian) or .txt (whitespace-separated) file",
      {ParamSpec::path("path", "", "the token file").make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<TokensSource>(p.get_string("path"));
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.data.tokens", "0.1.0", "Apache-2.0", "token-file data source",
                       register_components)
