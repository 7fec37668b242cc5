// Loader fixture: a well-formed plugin, built with tracenas_add_plugin.
//   proxy/good_proxy    scores the `value` parameter
//   proxy/good_failing  throws from its factory (stage=create) or from score()
//                       (stage=score): a tracenas::DataError (error=data) or a
//                       std::runtime_error (error=runtime)
#include <memory>
#include <stdexcept>
#include <string>

#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"

namespace {

using tracenas::ParamSpec;

class ValueProxy final : public tracenas::Proxy {
 public:
  explicit ValueProxy(double value) : value_(value) {}
  tracenas::Direction direction() const override { return tracenas::Direction::kLowerIsBetter; }
  tracenas::TraceNeeds needs() const override {
    tracenas::TraceNeeds n;
    n.loss = true;
    return n;
  }
  double score(const tracenas::Candidate&, const tracenas::Trace&) override { return value_; }

 private:
  double value_;
};

[[noreturn]] void fail(const std::string& error, const std::string& what) {
  if (error == "data") throw tracenas::DataError(what);
  throw std::runtime_error(what);
}

class FailingProxy final : public tracenas::Proxy {
 public:
  explicit FailingProxy(std::string error) : error_(std::move(error)) {}
  tracenas::Direction direction() const override { return tracenas::Direction::kHigherIsBetter; }
  tracenas::TraceNeeds needs() const override { return {}; }
  double score(const tracenas::Candidate&, const tracenas::Trace&) override {
    fail(error_, "good_failing score failed on purpose (" + error_ + ")");
  }

 private:
  std::string error_;
};

void register_good(tracenas::Registrar& r) {
  r.add<tracenas::Proxy>("good_proxy", "loader fixture: scores `value`",
                         {ParamSpec::real("value", 42.0, "the score")},
                         [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
                           return std::make_unique<ValueProxy>(p.get_float("value"));
                         });
  r.add<tracenas::Proxy>(
      "good_failing", "loader fixture: throws from create or score",
      {ParamSpec::choice("error", {"data", "runtime"}, "runtime", "what to throw"),
       ParamSpec::choice("stage", {"create", "score"}, "score", "where to throw")},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        const std::string& error = p.get_string("error");
        if (p.get_string("stage") == "create") {
          fail(error, "good_failing factory failed on purpose (" + error + ")");
        }
        return std::make_unique<FailingProxy>(error);
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.test.good", "1.2.3-rc.1+build.7", "Apache-2.0 OR MIT",
                       "loader fixture: a good plugin", register_good)
