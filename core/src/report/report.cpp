#include "report/report.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "io/svg_plot.hpp"
#include "study/stats.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/cache.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

constexpr double kNaN = NAN;

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string with_commas(std::int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return (v < 0 ? "-" : "") + s;
}

std::string esc(const std::string& s) { return xml_escape(s); }

// A proxy value for a table: whole numbers (counts) in full with commas.
std::string value_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return with_commas(static_cast<std::int64_t>(v));
  }
  return fmt("%.5g", v);
}

double num_or_nan(const json& j) { return j.is_number() ? j.get<double>() : kNaN; }

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A JSON file of the folder; null when absent, null and a note when unreadable.
json read_json_file(const fs::path& p, std::vector<std::string>& notes) {
  if (!fs::exists(p)) return nullptr;
  const auto text = read_text(p);
  json j = text ? json::parse(*text, nullptr, false) : json(json::value_t::discarded);
  if (j.is_discarded()) {
    notes.push_back(p.string() + ": not readable JSON, left out");
    return nullptr;
  }
  return j;
}

// The objects of a JSON-lines file; a line that is not a JSON object (a torn
// last line of a killed run) is skipped and noted.
std::vector<json> read_json_lines(const fs::path& p, std::vector<std::string>& notes) {
  std::vector<json> out;
  std::ifstream in(p, std::ios::binary);
  if (!in) return out;
  std::string line;
  int n = 0;
  std::vector<int> bad;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      bad.push_back(n);
      continue;
    }
    out.push_back(std::move(j));
  }
  if (!bad.empty()) {
    std::string lines;
    for (std::size_t i = 0; i < bad.size() && i < 5; ++i) {
      lines += (i ? ", " : "") + std::to_string(bad[i]);
    }
    if (bad.size() > 5) lines += ", ...";
    notes.push_back(p.string() + ": skipped " + std::to_string(bad.size()) +
                    (bad.size() == 1 ? " line that is" : " lines that are") +
                    " not complete JSON (line " + lines + ")");
  }
  return out;
}

// config.resolved.yaml as "path=value" entries (sequences indexed).
void flatten(const YAML::Node& n, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? k : prefix + "." + k, out);
    }
  } else if (n.IsSequence()) {
    const bool scalars =
        std::all_of(n.begin(), n.end(), [](const YAML::Node& e) { return e.IsScalar(); });
    if (scalars) {
      std::string list;
      for (const auto& e : n) list += (list.empty() ? "" : ", ") + e.as<std::string>();
      out[prefix] = "[" + list + "]";
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i)
      flatten(n[i], prefix + "[" + std::to_string(i) + "]", out);
  } else if (n.IsScalar()) {
    out[prefix] = n.as<std::string>();
  } else {
    out[prefix] = "";
  }
}

// The settings a config is compared by: its components by role, then every
// other key.
std::map<std::string, std::string> config_settings(const fs::path& dir,
                                                   std::vector<std::string>& notes) {
  std::map<std::string, std::string> out;
  const fs::path p = dir / "config.resolved.yaml";
  if (!fs::exists(p)) return out;
  YAML::Node root;
  try {
    root = YAML::LoadFile(p.string());
  } catch (const YAML::Exception& e) {
    notes.push_back(p.string() + ": not readable YAML, settings not compared");
    return out;
  }
  std::map<std::string, std::string> flat;
  flatten(root, "", flat);
  std::string proxies;
  for (const auto& [k, v] : flat) {
    if (k.rfind("proxies[", 0) == 0) {
      if (k.size() > 6 && k.compare(k.size() - 6, 6, ".proxy") == 0) {
        proxies += (proxies.empty() ? "" : ", ") + v;
        const std::string obj = k.substr(0, k.size() - 6) + ".objective";
        if (flat.count(obj) && flat[obj] == "true") out["objective"] = v;
      }
      continue;
    }
    if (k == "run.name" || k == "run.output_dir" || k == "schema_version") continue;
    if (k == "search.strategy") {
      out["strategy"] = v;
      continue;
    }
    if (k == "importance.criterion") {
      out["importance"] = v;
      continue;
    }
    out[k] = v;
  }
  if (!proxies.empty()) out["proxies"] = proxies;
  return out;
}

std::string run_name(const fs::path& dir) {
  const auto text = read_text(dir / "config.resolved.yaml");
  if (text) {
    try {
      YAML::Node n = YAML::Load(*text);
      if (n["run"] && n["run"]["name"]) return n["run"]["name"].as<std::string>();
    } catch (const YAML::Exception&) {
    }
  }
  fs::path p = dir;
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

// --- a search ---------------------------------------------------------------------

struct Candidate {
  std::int64_t index = 0;
  std::int64_t params = 0;  // total
  std::int64_t scoped = 0;  // in the window's scope
  double objective = kNaN;
  double score = kNaN;  // objective, higher is better
  std::map<std::string, double> proxies;
  double seconds = 0;
  json layers;
};

struct SearchData {
  fs::path dir;
  std::string name;
  std::map<std::string, std::string> settings;
  std::vector<Candidate> candidates;   // in evaluation order
  std::vector<std::string> labels;     // proxies, in the run's order
  std::map<std::string, bool> higher;  // per label
  std::string objective;
  std::int64_t base_params = 0, embedding = 0;
  double min_params = kNaN, max_params = kNaN;
  std::string scope = "total";
  json base;       // num_layers, num_heads, num_kv_heads, intermediate_size
  json summary;    // null while running
  json best_json;  // best.json, null while running
  bool finished = false;
  const Candidate* best = nullptr;
};

SearchData load_search(const fs::path& dir, std::vector<std::string>& notes) {
  SearchData s;
  s.dir = dir;
  s.name = run_name(dir);
  s.settings = config_settings(dir, notes);
  const json meta = read_json_file(dir / "search.json", notes);
  s.summary = read_json_file(dir / "summary.json", notes);
  s.best_json = read_json_file(dir / "best.json", notes);
  if (!s.summary.is_object()) s.summary = nullptr;
  s.finished =
      s.summary.is_object() && s.summary.contains("counts") && s.summary["counts"].is_object();
  if (meta.is_object()) {
    s.objective = meta.value("objective", "");
    for (const json& p : meta.value("proxies", json::array())) {
      const std::string label = p.value("label", "");
      s.labels.push_back(label);
      s.higher[label] = p.value("better", "higher") == "higher";
    }
    s.base_params = meta.value("base_params", std::int64_t{0});
    s.embedding = meta.value("embedding_params", std::int64_t{0});
    if (meta.contains("window")) {
      s.min_params = num_or_nan(meta["window"]["min_params"]);
      s.max_params = num_or_nan(meta["window"]["max_params"]);
      s.scope = meta["window"].value("scope", "total");
    }
    s.base = meta.value("base", json::object());
  } else if (s.summary.is_object()) {
    s.objective = s.summary.value("objective", "");
    s.base_params = s.summary.value("base_params", std::int64_t{0});
    if (s.summary.contains("window")) {
      s.min_params = num_or_nan(s.summary["window"]["min_params"]);
      s.max_params = num_or_nan(s.summary["window"]["max_params"]);
      s.scope = s.summary["window"].value("scope", "total");
    }
  }
  const std::vector<json> lines = read_json_lines(dir / "candidates.jsonl", notes);
  for (const json& j : lines) {
    if (!j.contains("proxies") || !j["proxies"].is_object()) continue;
    Candidate c;
    c.index = j.value("index", static_cast<std::int64_t>(s.candidates.size()));
    c.params = j.value("params", std::int64_t{0});
    c.objective = num_or_nan(j.value("objective", json(nullptr)));
    c.seconds = j.value("seconds", 0.0);
    for (const auto& [k, v] : j["proxies"].items()) {
      c.proxies[k] = num_or_nan(v);
      if (std::find(s.labels.begin(), s.labels.end(), k) == s.labels.end()) s.labels.push_back(k);
    }
    c.layers = j.value("arch", json::array());
    s.candidates.push_back(std::move(c));
  }
  std::sort(s.candidates.begin(), s.candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.index < b.index; });
  if (s.objective.empty() && !s.labels.empty()) s.objective = s.labels.front();
  // Without search.json (a folder of an older version): the objective's
  // direction from the order of summary.json's top list, the rest assumed.
  std::vector<std::string> assumed;
  if (!s.higher.count(s.objective) && s.summary.is_object() && s.summary.contains("top") &&
      s.summary["top"].is_array() && s.summary["top"].size() >= 2) {
    const double first = num_or_nan(s.summary["top"].front().value("objective", json()));
    const double last = num_or_nan(s.summary["top"].back().value("objective", json()));
    if (first != last && std::isfinite(first) && std::isfinite(last))
      s.higher[s.objective] = first > last;
  }
  for (const std::string& l : s.labels) {
    if (!s.higher.count(l)) {
      s.higher[l] = true;
      assumed.push_back(l);
    }
  }
  if (!assumed.empty() && !s.candidates.empty()) {
    std::string list;
    for (const auto& l : assumed) list += (list.empty() ? "" : ", ") + l;
    notes.push_back((dir / "search.json").string() + " is missing: higher is taken as better for " +
                    list);
  }
  const bool higher = s.higher.count(s.objective) ? s.higher[s.objective] : true;
  const bool non_embedding = s.scope == "non_embedding";
  for (Candidate& c : s.candidates) {
    c.scoped = non_embedding ? c.params - s.embedding : c.params;
    c.score = std::isfinite(c.objective) ? (higher ? c.objective : -c.objective) : kNaN;
    if (std::isfinite(c.score) && (s.best == nullptr || c.score > s.best->score)) s.best = &c;
  }
  return s;
}

std::string params_axis(const SearchData& s) {
  return s.scope == "non_embedding" ? "parameters, non-embedding (count)" : "parameters (count)";
}

// Running best (by each run's own objective) of `measure` against evaluation
// order and against cumulative candidate seconds.
struct Progress {
  std::vector<double> n, t, best;
};

Progress progress_of(const SearchData& s, const std::string& measure) {
  Progress p;
  const Candidate* best = nullptr;
  double t = 0;
  for (std::size_t i = 0; i < s.candidates.size(); ++i) {
    const Candidate& c = s.candidates[i];
    t += c.seconds;
    if (std::isfinite(c.score) && (best == nullptr || c.score > best->score)) best = &c;
    if (best == nullptr) continue;
    const auto it = best->proxies.find(measure);
    const double v = measure == s.objective      ? best->objective
                     : it != best->proxies.end() ? it->second
                                                 : kNaN;
    p.n.push_back(static_cast<double>(i + 1));
    p.t.push_back(t);
    p.best.push_back(v);
  }
  return p;
}

// Candidates not dominated in (fewer parameters, higher score), by parameters.
std::vector<const Candidate*> pareto_front(const SearchData& s) {
  std::vector<const Candidate*> c;
  for (const Candidate& x : s.candidates) {
    if (std::isfinite(x.score)) c.push_back(&x);
  }
  std::sort(c.begin(), c.end(), [](const Candidate* a, const Candidate* b) {
    return a->scoped != b->scoped ? a->scoped < b->scoped : a->score > b->score;
  });
  std::vector<const Candidate*> front;
  double best = -INFINITY;
  for (const Candidate* x : c) {
    if (x->score > best) {
      front.push_back(x);
      best = x->score;
    }
  }
  return front;
}

std::string objective_axis(const SearchData& s) {
  const bool h = s.higher.count(s.objective) ? s.higher.at(s.objective) : true;
  return s.objective + " (objective, " + (h ? "higher" : "lower") + " is better)";
}

std::string progress_plots(const std::vector<const SearchData*>& runs,
                           const std::vector<std::string>& names, const std::string& measure,
                           const std::string& y_label, const std::string& id) {
  Plot by_n, by_t;
  by_n.id = id + "-progress";
  by_n.title = "Best " + measure + " so far against candidates evaluated";
  by_n.x_label = "candidates evaluated (count)";
  by_n.y_label = y_label;
  by_t.id = id + "-progress-time";
  by_t.title = "Best " + measure + " so far against time";
  by_t.x_label = "time spent evaluating candidates (s)";
  by_t.y_label = y_label;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const Progress p = progress_of(*runs[r], measure);
    PlotSeries a;
    a.name = names[r];
    a.kind = PlotSeries::Kind::kStep;
    a.style = static_cast<int>(r);
    a.css_class = "run-" + std::to_string(r);
    a.x = p.n;
    a.y = p.best;
    by_n.series.push_back(a);
    a.x = p.t;
    by_t.series.push_back(a);
  }
  if (runs.size() == 1) {
    by_n.series[0].name.clear();
    by_t.series[0].name.clear();
  }
  return "<div class=\"plots\">" + plot_svg(by_n) + plot_svg(by_t) + "</div>\n";
}

std::string scatter_plot(const std::vector<const SearchData*>& runs,
                         const std::vector<std::string>& names, const std::string& measure,
                         const std::string& y_label, const std::string& id) {
  Plot p;
  p.id = id + "-scatter";
  p.title = "Every candidate: parameters against " + measure;
  p.x_label = params_axis(*runs[0]);
  p.y_label = y_label;
  p.width = 760;
  p.height = 460;
  const SearchData& first = *runs[0];
  if (std::isfinite(first.min_params) && std::isfinite(first.max_params)) {
    p.bands.push_back({first.min_params, first.max_params, "constraint window"});
  }
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const SearchData& s = *runs[r];
    PlotSeries pts;
    pts.name = runs.size() == 1 ? "candidate" : names[r];
    pts.style = static_cast<int>(r);
    pts.css_class = "candidate run-" + std::to_string(r);
    pts.opacity = runs.size() == 1 ? 0.55 : 0.6;
    for (const Candidate& c : s.candidates) {
      const auto it = c.proxies.find(measure);
      const double y = measure == s.objective  ? c.objective
                       : it != c.proxies.end() ? it->second
                                               : kNaN;
      pts.x.push_back(static_cast<double>(c.scoped));
      pts.y.push_back(y);
      pts.titles.push_back("#" + std::to_string(c.index) + ": " + with_commas(c.scoped) +
                           " parameters, " + measure + " " + fmt("%.5g", y));
    }
    p.series.push_back(pts);
  }
  if (runs.size() == 1) {
    const SearchData& s = first;
    const auto front = pareto_front(s);
    PlotSeries line, marks;
    line.name = "Pareto front (fewer parameters, better objective)";
    line.kind = PlotSeries::Kind::kStep;
    line.style = 6;
    line.css_class = "front";
    marks.style = 6;
    marks.css_class = "front-point";
    marks.opacity = 0.9;
    for (const Candidate* c : front) {
      line.x.push_back(static_cast<double>(c->scoped));
      line.y.push_back(c->objective);
      marks.x.push_back(static_cast<double>(c->scoped));
      marks.y.push_back(c->objective);
      marks.titles.push_back("front #" + std::to_string(c->index));
    }
    p.series.push_back(line);
    marks.style = 1;  // orange squares, with an outline
    marks.emphasised = true;
    marks.name = "on the front";
    p.series.push_back(marks);
    if (s.best != nullptr) {
      PlotSeries b;
      b.name = "best";
      b.style = 3;  // diamond
      b.emphasised = true;
      b.css_class = "best";
      b.opacity = 1;
      b.x = {static_cast<double>(s.best->scoped)};
      b.y = {s.best->objective};
      b.titles = {"best #" + std::to_string(s.best->index)};
      p.series.push_back(b);
    }
  }
  return plot_svg(p);
}

// The best architecture, drawn per layer as fractions of the base's width.
std::string arch_plot(const json& layers, const json& base, const std::string& id) {
  const double H0 = base.value("num_heads", 0), KV0 = base.value("num_kv_heads", 0),
               I0 = base.value("intermediate_size", 0);
  const int n = static_cast<int>(layers.size());
  const double W = std::max(640.0, 120.0 + 54.0 * n), Ht = 330;
  const double left = 70, right = 20, top = 76, bottom = 56;
  const double pw = W - left - right, ph = Ht - top - bottom;
  const double slot = n > 0 ? pw / n : pw, bw = std::min(14.0, slot / 4);
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" << esc(id) << "\" width=\"" << W
    << "\" height=\"" << Ht << "\" viewBox=\"0 0 " << W << " " << Ht
    << "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"Best "
       "architecture per layer\">\n<title>Best architecture per layer</title>\n"
    << "<defs><pattern id=\"" << esc(id) << "-hatch\" width=\"6\" height=\"6\" "
    << "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" "
       "height=\"6\" fill=\"#fff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#999\" "
       "stroke-width=\"2\"/></pattern></defs>\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2
    << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Best architecture per layer</text>\n"
    << "<text x=\"" << W / 2
    << "\" y=\"40\" text-anchor=\"middle\" fill=\"#444\">kept width as a fraction of the base "
       "model's; hatched: block removed</text>\n";
  const char* names[] = {"query heads", "KV heads", "MLP channels"};
  for (int k = 0; k < 3; ++k) {
    const double lx = left + 135.0 * k;
    s << "<rect x=\"" << lx << "\" y=\"52\" width=\"12\" height=\"12\" fill=\"" << style_colour(k)
      << "\"/><text x=\"" << lx + 18 << "\" y=\"62\">" << names[k] << "</text>";
  }
  s << "<rect x=\"" << left + 405 << "\" y=\"52\" width=\"12\" height=\"12\" fill=\"url(#"
    << esc(id) << "-hatch)\" stroke=\"#999\"/><text x=\"" << left + 423
    << "\" y=\"62\">removed</text>\n";
  s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const double y = top + ph - t * ph;
    s << "<line x1=\"" << left - 5 << "\" y1=\"" << y << "\" x2=\"" << left + pw << "\" y2=\"" << y
      << "\" stroke=\"#e4e4e4\"/><text x=\"" << left - 8 << "\" y=\"" << y + 4
      << "\" text-anchor=\"end\">" << tick_label(t) << "</text>\n";
  }
  s << "<text x=\"18\" y=\"" << top + ph / 2
    << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << top + ph / 2
    << ")\">kept fraction of the base</text>\n"
    << "<text x=\"" << left + pw / 2 << "\" y=\"" << Ht - 12
    << "\" text-anchor=\"middle\">layer</text>\n";
  for (int i = 0; i < n; ++i) {
    const json& l = layers[static_cast<std::size_t>(i)];
    const double cx = left + slot * (i + 0.5);
    const bool attn = l.value("attn", false), mlp = l.value("mlp", false);
    const double f[3] = {attn && H0 > 0 ? l.value("heads", 0) / H0 : 0,
                         attn && KV0 > 0 ? l.value("kv_heads", 0) / KV0 : 0,
                         mlp && I0 > 0 ? l.value("mlp_channels", 0) / I0 : 0};
    const bool kept[3] = {attn, attn, mlp};
    for (int k = 0; k < 3; ++k) {
      const double x = cx + (k - 1.5) * bw + 1;
      if (kept[k]) {
        const double h = std::min(1.0, f[k]) * ph;
        s << "<rect class=\"layer-bar " << (k == 2 ? "mlp" : "attn") << "\" x=\"" << x << "\" y=\""
          << top + ph - h << "\" width=\"" << bw - 2 << "\" height=\"" << h << "\" fill=\""
          << style_colour(k) << "\"><title>layer " << i << ", " << names[k] << ": "
          << fmt("%.2f", f[k]) << "</title></rect>";
      } else {
        s << "<rect class=\"layer-bar removed\" x=\"" << x << "\" y=\"" << top << "\" width=\""
          << bw - 2 << "\" height=\"" << ph << "\" fill=\"url(#" << esc(id)
          << "-hatch)\"><title>layer " << i << ": " << (k == 2 ? "MLP" : "attention")
          << " removed</title></rect>";
      }
    }
    s << "<text x=\"" << cx << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\">" << i
      << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string arch_table(const json& layers, const json& base) {
  std::ostringstream s;
  s << "<table class=\"num arch\"><caption>The best architecture per layer (base: "
    << base.value("num_heads", 0) << " query heads, " << base.value("num_kv_heads", 0)
    << " KV heads, " << base.value("intermediate_size", 0) << " MLP channels)</caption>\n"
    << "<tr><th>layer</th><th>attention</th><th>query heads</th><th>KV heads</th><th>MLP</th>"
       "<th>MLP channels</th></tr>\n";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    const bool a = l.value("attn", false), m = l.value("mlp", false);
    s << "<tr><td>" << i << "</td><td>" << (a ? "kept" : "removed") << "</td><td>"
      << (a ? std::to_string(l.value("heads", 0)) : "-") << "</td><td>"
      << (a ? std::to_string(l.value("kv_heads", 0)) : "-") << "</td><td>"
      << (m ? "kept" : "removed") << "</td><td>"
      << (m ? std::to_string(l.value("mlp_channels", 0)) : "-") << "</td></tr>\n";
  }
  s << "</table>\n";
  return s.str();
}

std::string top_table(const SearchData& s, int k) {
  std::vector<const Candidate*> c;
  for (const Candidate& x : s.candidates) {
    if (std::isfinite(x.score)) c.push_back(&x);
  }
  std::stable_sort(c.begin(), c.end(),
                   [](const Candidate* a, const Candidate* b) { return a->score > b->score; });
  if (static_cast<int>(c.size()) > k) c.resize(static_cast<std::size_t>(k));
  std::ostringstream o;
  o << "<table class=\"num top\"><caption>The " << c.size()
    << " best candidates by the objective, with every proxy</caption>\n<tr><th>rank</th><th>"
       "candidate</th><th>parameters</th><th>% of base</th>";
  for (const std::string& l : s.labels) {
    o << "<th>" << esc(l) << (l == s.objective ? " (objective)" : "") << "</th>";
  }
  o << "</tr>\n";
  for (std::size_t i = 0; i < c.size(); ++i) {
    o << "<tr><td>" << i + 1 << "</td><td>#" << c[i]->index << "</td><td>"
      << with_commas(c[i]->params) << "</td><td>"
      << (s.base_params > 0 ? fmt("%.1f", 100.0 * static_cast<double>(c[i]->params) /
                                              static_cast<double>(s.base_params))
                            : std::string("n/a"))
      << "</td>";
    for (const std::string& l : s.labels) {
      const auto it = c[i]->proxies.find(l);
      o << "<td>" << value_text(it == c[i]->proxies.end() ? kNaN : it->second) << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

// Cell shading for a coefficient in [-1, 1]: blue for agreement, orange for
// disagreement, lighter towards 0; the number is always written.
std::string coefficient_cell(double rho) {
  if (!std::isfinite(rho)) return "<td class=\"na\">n/a</td>";
  const double a = std::min(1.0, std::fabs(rho));
  const int base[3] = {rho >= 0 ? 0x00 : 0xD5, rho >= 0 ? 0x72 : 0x5E, rho >= 0 ? 0xB2 : 0x00};
  int rgb[3];
  for (int i = 0; i < 3; ++i) rgb[i] = static_cast<int>(255 - a * (255 - base[i]));
  char buf[96];
  std::snprintf(buf, sizeof buf, "<td style=\"background:#%02x%02x%02x;color:%s\">", rgb[0], rgb[1],
                rgb[2], a > 0.55 ? "#fff" : "#000");
  return std::string(buf) + fmt("%+.2f", rho) + "</td>";
}

std::string spearman_matrix(const SearchData& s) {
  std::vector<std::string> labels;
  std::map<std::string, std::vector<double>> oriented;
  for (const std::string& l : s.labels) {
    std::vector<double> v;
    for (const Candidate& c : s.candidates) {
      const auto it = c.proxies.find(l);
      const double x = it == c.proxies.end() ? kNaN : it->second;
      v.push_back(s.higher.at(l) ? x : -x);
    }
    labels.push_back(l);
    oriented[l] = v;
  }
  std::ostringstream o;
  o << "<table class=\"num matrix\"><caption>How the proxies rank the " << s.candidates.size()
    << " evaluated candidates: Spearman's rho between each pair of proxies, each oriented so "
       "that higher is better (+1: the same order; n/a: a constant proxy)</caption>\n<tr><th></th>";
  for (const std::string& l : labels) o << "<th>" << esc(l) << "</th>";
  o << "</tr>\n";
  for (const std::string& a : labels) {
    o << "<tr><th>" << esc(a) << "</th>";
    for (const std::string& b : labels) {
      std::vector<double> x, y;
      for (std::size_t i = 0; i < oriented[a].size(); ++i) {
        if (std::isfinite(oriented[a][i]) && std::isfinite(oriented[b][i])) {
          x.push_back(oriented[a][i]);
          y.push_back(oriented[b][i]);
        }
      }
      o << coefficient_cell(x.size() >= 2 ? spearman(x, y) : kNaN);
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

std::string time_table(const SearchData& s) {
  std::vector<std::pair<std::string, double>> rows;
  std::ostringstream o;
  double candidates = 0;
  for (const Candidate& c : s.candidates) candidates += c.seconds;
  if (s.finished) {
    const json t = s.summary.value("seconds", json::object());
    rows = {{"base preparation (importance, base traces)",
             num_or_nan(t.value("base_preparation", json()))},
            {"  of which importance", num_or_nan(t.value("importance", json()))},
            {"  of which base traces", num_or_nan(t.value("base_traces", json()))},
            {"candidates", num_or_nan(t.value("candidates", json()))},
            {"search loop (candidates and the strategy)", num_or_nan(t.value("search", json()))},
            {"whole run (export and recovery included)", num_or_nan(t.value("total", json()))}};
  } else {
    rows = {{"candidates evaluated so far", candidates}};
  }
  double total = 0;
  for (const auto& r : rows) {
    if (std::isfinite(r.second)) total = std::max(total, r.second);
  }
  o << "<table class=\"num time\"><caption>Where the time went (seconds)</caption>\n"
       "<tr><th>stage</th><th>seconds</th><th>share of the longest</th></tr>\n";
  for (const auto& [name, v] : rows) {
    const double f = total > 0 && std::isfinite(v) ? v / total : 0;
    o << "<tr><td class=\"text\">" << esc(name) << "</td><td>" << fmt("%.2f", v)
      << "</td><td class=\"text\"><span class=\"bar\" style=\"width:" << fmt("%.0f", 160 * f)
      << "px\"></span> " << fmt("%.0f", 100 * f) << "%</td></tr>\n";
  }
  o << "</table>\n";
  if (s.finished) {
    const json& c = s.summary["counts"];
    o << "<table class=\"num counts\"><caption>Candidates by outcome</caption>\n"
         "<tr><th>outcome</th><th>count</th></tr>\n"
      << "<tr><td class=\"text\">evaluated</td><td>" << c.value("evaluated", 0) << "</td></tr>\n"
      << "<tr><td class=\"text\">duplicates (answered from the store)</td><td>"
      << c.value("duplicates", 0) << "</td></tr>\n"
      << "<tr><td class=\"text\">invalid architectures</td><td>" << c.value("invalid", 0)
      << "</td></tr>\n";
    if (c.contains("rejected") && c["rejected"].is_object()) {
      for (const auto& [reason, n] : c["rejected"].items()) {
        o << "<tr><td class=\"text\">rejected: " << esc(reason) << "</td><td>" << n
          << "</td></tr>\n";
      }
    }
    o << "<tr><td class=\"text\">replayed from the log (resume)</td><td>"
      << c.value("replayed_from_log", 0) << "</td></tr>\n</table>\n";
  }
  return o.str();
}

// " · N ranks (split), evaluated per rank: a, b, ..." for a distributed run's
// summary, else "".
std::string ranks_text(const json& summary) {
  if (!summary.is_object() || !summary.contains("distributed")) return "";
  const json& d = summary["distributed"];
  if (!d.is_object() || !d.contains("world_size") || !d["world_size"].is_number_integer() ||
      d["world_size"].get<std::int64_t>() < 2) {
    return "";
  }
  std::ostringstream o;
  o << " &middot; " << d["world_size"].get<std::int64_t>() << " ranks";
  if (d.contains("split") && d["split"].is_string()) {
    o << " (" << esc(d["split"].get<std::string>()) << " split)";
  }
  if (d.contains("evaluated_per_rank") && d["evaluated_per_rank"].is_array()) {
    o << ", evaluated per rank:";
    const char* sep = " ";
    for (const json& n : d["evaluated_per_rank"]) {
      if (!n.is_number_integer()) continue;
      o << sep << n.get<std::int64_t>();
      sep = ", ";
    }
  }
  return o.str();
}

std::string search_section(const SearchData& s, int index) {
  const std::string id = "search-" + std::to_string(index);
  std::ostringstream o;
  o << "<section class=\"search\" id=\"" << id << "\">\n<h2>Search: " << esc(s.name) << "</h2>\n"
    << "<p class=\"meta\">" << esc(s.dir.string()) << " &middot; ";
  if (s.finished) {
    o << "finished (" << esc(s.summary.value("stop_reason", std::string("?"))) << ")";
  } else {
    o << "in progress or stopped before its summary";
  }
  o << " &middot; " << s.candidates.size() << " candidates recorded";
  o << ranks_text(s.summary);
  if (s.base_params > 0)
    o << " &middot; base model " << with_commas(s.base_params) << " parameters";
  if (std::isfinite(s.min_params)) {
    o << " &middot; window " << with_commas(static_cast<std::int64_t>(s.min_params)) << " to "
      << with_commas(static_cast<std::int64_t>(s.max_params)) << " ("
      << (s.scope == "non_embedding" ? "non-embedding" : "total") << ")";
  }
  o << "</p>\n";
  if (s.candidates.empty()) {
    o << "<p class=\"empty\">No candidate recorded yet.</p>\n</section>\n";
    return o.str();
  }
  if (s.best != nullptr) {
    o << "<p class=\"best\">Best: candidate #" << s.best->index << ", " << esc(s.objective) << " "
      << fmt("%.6g", s.best->objective) << " with " << with_commas(s.best->params) << " parameters";
    if (s.base_params > 0) {
      o << " ("
        << fmt("%.1f",
               100.0 * static_cast<double>(s.best->params) / static_cast<double>(s.base_params))
        << "% of the base)";
    }
    if (s.best_json.is_object() && s.best_json.contains("recovered")) {
      const json& r = s.best_json["recovered"];
      o << "; after recovery training: loss " << fmt("%.4f", num_or_nan(r.value("loss", json())));
      if (r.value("eval_loss", json()).is_number()) {
        o << ", held-out loss " << fmt("%.4f", num_or_nan(r["eval_loss"]));
      }
    }
    o << ".</p>\n";
  }
  const std::vector<const SearchData*> one = {&s};
  const std::vector<std::string> names = {s.name};
  o << "<h3>Progress</h3>\n"
    << progress_plots(one, names, s.objective, objective_axis(s), id) << "<h3>Candidates</h3>\n"
    << scatter_plot(one, names, s.objective, objective_axis(s), id);
  const auto front = pareto_front(s);
  o << "<p>" << front.size()
    << " candidates lie on the Pareto front: none of the others has as few parameters and as "
       "good an objective.</p>\n";
  json layers = nullptr, base = s.base;
  const json best_arch = [&] {
    std::vector<std::string> ignored;
    return read_json_file(s.dir / "best_arch.json", ignored);
  }();
  if (best_arch.is_object() && best_arch.contains("layers")) {
    layers = best_arch["layers"];
    if (best_arch.contains("base")) base = best_arch["base"];
  } else if (s.best != nullptr) {
    layers = s.best->layers;
  }
  if (layers.is_array() && base.is_object() && base.contains("num_heads")) {
    o << "<h3>The best architecture</h3>\n"
      << arch_plot(layers, base, id + "-arch") << "<details><summary>per-layer numbers</summary>\n"
      << arch_table(layers, base) << "</details>\n";
  }
  o << "<h3>Top candidates</h3>\n"
    << top_table(s, 10) << "<h3>Proxy agreement</h3>\n"
    << spearman_matrix(s) << "<h3>Time</h3>\n"
    << time_table(s) << "</section>\n";
  return o.str();
}

// Several searches: what each swaps, then the overlays and a table.
std::string ablation_section(const std::vector<SearchData>& runs, std::vector<std::string>& notes) {
  std::set<std::string> keys;
  for (const SearchData& r : runs) {
    for (const auto& [k, v] : r.settings) keys.insert(k);
  }
  std::vector<std::string> differing;
  for (const std::string& k : keys) {
    std::set<std::string> values;
    for (const SearchData& r : runs) {
      const auto it = r.settings.find(k);
      values.insert(it == r.settings.end() ? "(unset)" : it->second);
    }
    if (values.size() > 1) differing.push_back(k);
  }
  // A swapped component brings its own parameters: those are not named.
  const std::map<std::string, std::string> component_of = {{"search", "strategy"},
                                                           {"importance", "importance"},
                                                           {"model", "model.adapter"},
                                                           {"data", "data.source"}};
  differing.erase(std::remove_if(differing.begin(), differing.end(),
                                 [&](const std::string& k) {
                                   const auto dot = k.find(".params.");
                                   if (dot == std::string::npos) return false;
                                   const auto c = component_of.find(k.substr(0, dot));
                                   return c != component_of.end() &&
                                          std::find(differing.begin(), differing.end(),
                                                    c->second) != differing.end();
                                 }),
                  differing.end());
  std::vector<std::string> names, swaps;
  for (const SearchData& r : runs) {
    std::string sw;
    for (const std::string& k : differing) {
      if (k == "proxies" &&
          std::find(differing.begin(), differing.end(), "objective") != differing.end()) {
        continue;
      }
      const auto it = r.settings.find(k);
      sw += (sw.empty() ? "" : ", ") + k + " " + (it == r.settings.end() ? "(unset)" : it->second);
    }
    if (sw.size() > 70) sw = sw.substr(0, 67) + "...";
    swaps.push_back(sw);
    names.push_back(sw.empty() ? r.name : r.name + ": " + sw);
  }
  // What the overlays plot: the common objective, else one every run records.
  std::string measure = runs[0].objective;
  bool same = true;
  for (const SearchData& r : runs) same = same && r.objective == measure;
  std::string note;
  if (!same) {
    auto everywhere = [&](const std::string& l) {
      for (const SearchData& r : runs) {
        if (std::find(r.labels.begin(), r.labels.end(), l) == r.labels.end()) return false;
      }
      return true;
    };
    if (!everywhere(measure)) measure = everywhere("loss") ? "loss" : "";
    note = measure.empty()
               ? "The runs optimise different objectives and record no proxy in common: no overlay."
               : "The runs optimise different objectives; the overlays show " + measure +
                     ", which every run records (the progress plot follows each run's best by its "
                     "own objective).";
    if (measure.empty()) notes.push_back("ablation: " + note);
  }
  std::ostringstream o;
  o << "<section class=\"ablation\" id=\"ablation\">\n<h2>Ablation: " << runs.size()
    << " searches compared</h2>\n<p>The resolved configs differ in: "
    << (differing.empty() ? std::string("nothing (the same pipeline)") : [&] {
         std::string d;
         for (const auto& k : differing) d += (d.empty() ? "" : ", ") + esc(k);
         return d;
       }())
    << ".</p>\n";
  if (!note.empty()) o << "<p>" << esc(note) << "</p>\n";
  std::vector<const SearchData*> ptrs;
  for (const SearchData& r : runs) ptrs.push_back(&r);
  if (!measure.empty()) {
    const bool h = runs[0].higher.count(measure) ? runs[0].higher.at(measure) : true;
    const std::string axis = measure + " (" + (h ? "higher" : "lower") + " is better)";
    o << progress_plots(ptrs, names, measure, axis, "ablation")
      << scatter_plot(ptrs, names, measure, axis, "ablation");
  }
  o << "<table class=\"num runs\"><caption>The runs compared</caption>\n<tr><th>run</th><th>swaps"
       "</th><th>candidates</th><th>objective</th><th>best objective</th><th>best parameters"
       "</th><th>% of base</th><th>calibration loss of the best</th><th>loss after recovery</th>"
       "<th>held-out loss after recovery</th></tr>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const SearchData& r = runs[i];
    const Candidate* b = r.best;
    json rec = r.best_json.is_object() && r.best_json.contains("recovered")
                   ? r.best_json["recovered"]
                   : json::object();
    double calib = kNaN;
    if (b != nullptr && b->proxies.count("loss")) calib = b->proxies.at("loss");
    o << "<tr><td class=\"text\"><span class=\"key\" style=\"background:"
      << style_colour(static_cast<int>(i)) << "\"></span> " << esc(r.name)
      << "</td><td class=\"text\">" << esc(swaps[i]) << "</td><td>" << r.candidates.size()
      << "</td><td class=\"text\">" << esc(r.objective) << "</td><td>"
      << fmt("%.6g", b ? b->objective : kNaN) << "</td><td>" << (b ? with_commas(b->params) : "n/a")
      << "</td><td>"
      << (b && r.base_params > 0 ? fmt("%.1f", 100.0 * static_cast<double>(b->params) /
                                                   static_cast<double>(r.base_params))
                                 : "n/a")
      << "</td><td>" << fmt("%.4f", calib) << "</td><td>"
      << fmt("%.4f", num_or_nan(rec.value("loss", json()))) << "</td><td>"
      << fmt("%.4f", num_or_nan(rec.value("eval_loss", json()))) << "</td></tr>\n";
  }
  o << "</table>\n</section>\n";
  return o.str();
}

// --- a study -------------------------------------------------------------------------

std::string study_section(const fs::path& dir, int index, std::vector<std::string>& notes,
                          std::int64_t& count);

// A study over several seeds: the mean and spread of every coefficient, the
// per-seed plot, then each seed's own section.
std::string seeds_section(const fs::path& dir, const json& study, int index,
                          std::vector<std::string>& notes, std::int64_t& count) {
  std::ostringstream o;
  const json seeds = study.is_object() ? study.value("seeds", json::array())
                                       : read_json_file(dir / "seeds.json", notes);
  o << "<section class=\"study seeds\" id=\"study-" << index << "\">\n<h2>Proxy study over "
    << (seeds.is_array() ? seeds.size() : 0) << " seeds: " << esc(run_name(dir))
    << "</h2>\n<p class=\"meta\">" << esc(dir.string())
    << (study.is_object() ? "" : " &middot; in progress: no study.json over the seeds yet")
    << "</p>\n";
  if (study.is_object()) {
    const json rows = study.value("summary", json::array());
    const bool tasks =
        !rows.empty() && rows[0].is_object() && rows[0].contains("spearman_task_acc");
    std::vector<const char*> keys = {"spearman_after", "kendall_after", "spearman_before",
                                     "kendall_before"};
    if (tasks) keys.insert(keys.end(), {"spearman_task_acc", "kendall_task_acc"});
    o << "<table class=\"num seed-summary\"><caption>Mean and sample standard deviation over "
         "the seeds of each coefficient of (score, -held-out loss)"
      << (tasks ? " and of (score, task accuracy)" : "")
      << "</caption>\n<tr><th>proxy</th>"
         "<th>better</th><th>Spearman, after training</th><th>Kendall, after training</th>"
         "<th>Spearman, before training</th><th>Kendall, before training</th>"
      << (tasks ? "<th>Spearman, task accuracy</th><th>Kendall, task accuracy</th>" : "")
      << "</tr>\n";
    for (const json& row : rows) {
      o << "<tr><th>" << esc(row.value("proxy", std::string())) << "</th><td class=\"text\">"
        << esc(row.value("better", std::string())) << "</td>";
      for (const char* key : keys) {
        const json c = row.value(key, json::object());
        const double mean = num_or_nan(c.value("mean", json()));
        std::string cell = coefficient_cell(mean);
        if (std::isfinite(mean)) {
          cell.insert(cell.size() - 5, " <span class=\"ci\">&plusmn; " +
                                           fmt("%.2f", num_or_nan(c.value("sd", json()))) +
                                           "</span>");
        }
        o << cell;
      }
      o << "</tr>\n";
    }
    o << "</table>\n";
    if (const auto svg = read_text(dir / "plots" / "seeds.svg");
        svg && svg->rfind("<svg", 0) == 0) {
      o << "<div class=\"plots\">" << *svg << "</div>\n";
    }
  }
  o << "</section>\n";
  int k = 0;
  for (const json& s : seeds.is_array() ? seeds : json::array()) {
    const fs::path sub = dir / ("seed-" + s.dump());
    if (fs::is_directory(sub)) o << study_section(sub, index * 100 + 1 + k++, notes, count);
  }
  return o.str();
}

std::string study_section(const fs::path& dir, int index, std::vector<std::string>& notes,
                          std::int64_t& count) {
  const json study = read_json_file(dir / "study.json", notes);
  if ((study.is_object() && study.contains("per_seed")) ||
      (!study.is_object() && fs::exists(dir / "seeds.json"))) {
    return seeds_section(dir, study, index, notes, count);
  }
  const std::vector<json> recs = read_json_lines(dir / "study.jsonl", notes);
  count += static_cast<std::int64_t>(recs.size());
  const std::string id = "study-" + std::to_string(index);
  std::ostringstream o;
  o << "<section class=\"study\" id=\"" << id << "\">\n<h2>Proxy study: " << esc(run_name(dir))
    << "</h2>\n<p class=\"meta\">" << esc(dir.string()) << " &middot; " << recs.size()
    << " architectures trained and evaluated"
    << (study.is_object() ? "" : " (in progress or stopped: no study.json yet)") << "</p>\n";
  if (study.is_object()) {
    const json& st = study.value("settings", json::object());
    o << "<p>Each architecture trained for " << st.value("steps", 0) << " steps ("
      << esc(st.value("schedule", std::string("?"))) << ", lr " << fmt("%g", st.value("lr", kNaN))
      << ") and evaluated on " << esc(st.value("eval_data", std::string("?"))) << " ("
      << st.value("eval_windows", 0) << " windows); the unpruned model's held-out loss is "
      << fmt("%.4f", num_or_nan(study.value("base_loss", json())))
      << ". Orientation: " << esc(study.value("orientation", std::string())) << ".</p>\n";
    auto cell = [](const json& c) {
      if (!c.is_object() || !c["value"].is_number())
        return std::string("<td class=\"na\">n/a</td>");
      std::string s = coefficient_cell(c["value"].get<double>());
      if (c.contains("ci95") && c["ci95"].is_array() && c["ci95"][0].is_number()) {
        s.insert(s.size() - 5, " <span class=\"ci\">[" + fmt("%+.2f", c["ci95"][0].get<double>()) +
                                   ", " + fmt("%+.2f", c["ci95"][1].get<double>()) + "]</span>");
      }
      return s;
    };
    const bool tasks = st.value("tasks", json()).is_string();
    o << "<table class=\"num coefficients\"><caption>Rank correlation of each proxy with the "
         "held-out loss"
      << (tasks ? " and with the task accuracy (" + esc(st["tasks"].get<std::string>()) + ", " +
                      std::to_string(st.value("task_examples", 0)) + " examples; unpruned model " +
                      fmt("%.3f", num_or_nan(study.value("base_task_acc", json()))) + ")"
                : std::string())
      << " (95% bootstrap intervals in brackets)</caption>\n<tr><th>proxy</th>"
         "<th>better</th><th>n</th><th>Spearman, after training</th><th>Kendall, after training"
         "</th><th>Spearman, before training</th><th>Kendall, before training</th>"
      << (tasks ? "<th>Spearman, task accuracy</th><th>Kendall, task accuracy</th>" : "")
      << "</tr>\n";
    for (const json& c : study.value("coefficients", json::array())) {
      o << "<tr><th>" << esc(c.value("proxy", std::string())) << "</th><td class=\"text\">"
        << esc(c.value("better", std::string())) << "</td><td>" << c.value("n", 0) << "</td>"
        << cell(c.value("spearman_after", json())) << cell(c.value("kendall_after", json()))
        << cell(c.value("spearman_before", json())) << cell(c.value("kendall_before", json()));
      if (tasks) {
        o << cell(c.value("spearman_task_acc", json()))
          << cell(c.value("kendall_task_acc", json()));
      }
      o << "</tr>\n";
    }
    o << "</table>\n";
  }
  // The scatter plots: the files the study wrote, else drawn from its log.
  std::vector<fs::path> files;
  if (study.is_object() && fs::is_directory(dir / "plots")) {
    for (const auto& e : fs::directory_iterator(dir / "plots")) {
      if (e.path().extension() == ".svg") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  }
  o << "<h3>Each proxy against the held-out loss after training</h3>\n<div class=\"plots\">";
  if (!files.empty()) {
    for (const fs::path& f : files) {
      const auto text = read_text(f);
      if (text && text->rfind("<svg", 0) == 0) {
        o << *text;
      } else {
        notes.push_back(f.string() + ": not an SVG file, left out");
      }
    }
  } else {
    std::vector<std::string> labels;
    for (const json& r : recs) {
      const json proxies = r.value("proxies", json::object());
      for (const auto& [k, v] : proxies.items()) {
        if (std::find(labels.begin(), labels.end(), k) == labels.end()) labels.push_back(k);
      }
    }
    for (const std::string& l : labels) {
      Plot p;
      p.title = l + " vs held-out loss after recovery training";
      p.x_label = l + " (proxy value)";
      p.y_label = "held-out loss after training";
      for (int g : {0, 1}) {
        PlotSeries s;
        s.style = g;
        s.name = g == 0 ? "uniform sample" : "strategy proposal";
        for (const json& r : recs) {
          if ((r.value("origin", std::string()) == "strategy") != (g == 1)) continue;
          const json pr = r.value("proxies", json::object());
          s.x.push_back(num_or_nan(pr.value(l, json())));
          s.y.push_back(num_or_nan(r.value("loss_after", json())));
        }
        p.series.push_back(s);
      }
      o << plot_svg(p);
    }
  }
  o << "</div>\n</section>\n";
  return o.str();
}

const char* kStyle = R"(
body{font-family:sans-serif;margin:24px;color:#111;background:#fafafa;max-width:1600px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 6px;border-bottom:2px solid #ccc}
h3{font-size:16px;margin:20px 0 6px}section{background:#fff;padding:4px 18px 14px;margin:18px 0;
border:1px solid #ddd;border-radius:6px}.meta{color:#444;font-size:13px}
.plots{display:flex;flex-wrap:wrap;gap:12px}svg{border:1px solid #e3e3e3;max-width:100%;height:auto}
table{border-collapse:collapse;margin:10px 0;font-size:13px}caption{text-align:left;font-weight:bold;
padding:4px 0}th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f0f0f0}
table.num td{text-align:right;font-variant-numeric:tabular-nums}table.num td.text{text-align:left}
td.na{color:#777;text-align:center}.ci{font-size:11px;opacity:.85}
.bar{display:inline-block;height:10px;background:#0072B2;vertical-align:middle}
.key{display:inline-block;width:12px;height:12px;border:1px solid #333;vertical-align:middle}
.notes{background:#fff8e1;border:1px solid #e6c200;padding:6px 12px}.empty{font-style:italic}
)";

}  // namespace

std::string render_report(const std::vector<std::string>& dirs, const ReportOptions& options,
                          ReportInfo* info) {
  ReportInfo local;
  ReportInfo& r = info != nullptr ? *info : local;
  if (dirs.empty()) throw UsageError("report: no run folder given");
  std::ostringstream body;
  std::vector<SearchData> searches;
  searches.reserve(dirs.size());  // SearchData::best points into its own candidates
  std::vector<fs::path> studies;
  std::string current;  // the folder being read, for an error
  try {
    for (const std::string& d : dirs) {
      current = d;
      const fs::path dir(d);
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) {
        throw ConfigError(d + ": error: not a run folder (" +
                          (fs::exists(dir, ec) ? "not a directory" : "does not exist") + ")");
      }
      const bool study = fs::exists(dir / "study.jsonl") || fs::exists(dir / "study.json") ||
                         fs::exists(dir / "architectures.json") || fs::exists(dir / "seeds.json");
      const bool search = fs::exists(dir / "candidates.jsonl") || fs::exists(dir / "search.json") ||
                          fs::exists(dir / "summary.json");
      const bool empty = fs::is_empty(dir, ec);
      if (study) {
        studies.push_back(dir);
      } else if (search || empty || fs::exists(dir / "config.resolved.yaml")) {
        if (!search) r.notes.push_back(d + ": nothing recorded yet");
        searches.push_back(load_search(dir, r.notes));
      } else {
        throw ConfigError(d +
                          ": error: not a run folder of tracenas run or tracenas study (no "
                          "candidates.jsonl, summary.json, study.jsonl or config.resolved.yaml)");
      }
    }
    for (std::size_t i = 0; i < searches.size(); ++i) {
      r.candidates += static_cast<std::int64_t>(searches[i].candidates.size());
    }
    current = searches.size() > 1 ? "the ablation" : "";
    if (searches.size() > 1) body << ablation_section(searches, r.notes);
    for (std::size_t i = 0; i < searches.size(); ++i) {
      current = searches[i].dir.string();
      body << search_section(searches[i], static_cast<int>(i));
    }
    for (std::size_t i = 0; i < studies.size(); ++i) {
      current = studies[i].string();
      body << study_section(studies[i], static_cast<int>(i), r.notes, r.candidates);
    }
  } catch (const nlohmann::json::exception& e) {
    throw DataError(current +
                    ": error: a file of the run folder does not have the shape "
                    "TraceNAS writes (" +
                    std::string(e.what()) + ")");
  }
  r.searches = static_cast<int>(searches.size());
  r.studies = static_cast<int>(studies.size());

  std::string title = "TraceNAS report: ";
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    if (i < searches.size() + studies.size()) {
      title += (i ? ", " : "") + run_name(dirs[i]);
    }
  }
  const std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::ostringstream page;
  page << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  if (options.refresh_s > 0) {
    page << "<meta http-equiv=\"refresh\" content=\"" << options.refresh_s << "\">\n";
  }
  page << "<title>" << esc(title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
       << "<h1>" << esc(title) << "</h1>\n<p class=\"meta\">Written " << when;
  if (options.refresh_s > 0) {
    page << "; the run is in progress and this page reloads every " << options.refresh_s << " s";
  }
  page << ".</p>\n";
  if (!r.notes.empty()) {
    page << "<div class=\"notes\"><p>Skipped or assumed while reading the folders:</p><ul>\n";
    for (const std::string& n : r.notes) page << "<li>" << esc(n) << "</li>\n";
    page << "</ul></div>\n";
  }
  page << body.str() << "</body>\n</html>\n";
  return page.str();
}

std::uint64_t write_report(const std::vector<std::string>& dirs, const std::string& out,
                           const ReportOptions& options, ReportInfo* info) {
  const std::string page = render_report(dirs, options, info);
  const fs::path parent = fs::path(out).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    throw ConfigError("--out: error: the folder of '" + out + "' does not exist");
  }
  write_file_atomic(out, page);
  return page.size();
}

}  // namespace tracenas
