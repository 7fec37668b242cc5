#include "io/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace tracenas {
namespace {

// Okabe & Ito's colour-blind-safe palette, ordered so that neighbours also
// differ in lightness (greyscale).
const char* const kColours[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                "#D55E00", "#56B4E9", "#000000", "#F0E442"};
constexpr int kNumColours = 8;
const char* const kDashes[] = {"", "6 3", "2 2", "8 3 2 3", "4 4"};
constexpr int kNumDashes = 5;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

void marker(std::ostringstream& s, Marker m, double x, double y, double r,
            const std::string& attrs) {
  switch (m) {
    case Marker::kCircle:
      s << "<circle " << attrs << " cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << num(r)
        << "\"";
      break;
    case Marker::kSquare:
      s << "<rect " << attrs << " x=\"" << num(x - r * 0.9) << "\" y=\"" << num(y - r * 0.9)
        << "\" width=\"" << num(1.8 * r) << "\" height=\"" << num(1.8 * r) << "\"";
      break;
    case Marker::kTriangle:
      s << "<polygon " << attrs << " points=\"" << num(x) << "," << num(y - 1.2 * r) << " "
        << num(x - 1.1 * r) << "," << num(y + 0.8 * r) << " " << num(x + 1.1 * r) << ","
        << num(y + 0.8 * r) << "\"";
      break;
    case Marker::kDiamond:
      s << "<polygon " << attrs << " points=\"" << num(x) << "," << num(y - 1.25 * r) << " "
        << num(x + 1.25 * r) << "," << num(y) << " " << num(x) << "," << num(y + 1.25 * r) << " "
        << num(x - 1.25 * r) << "," << num(y) << "\"";
      break;
    case Marker::kCross:
      s << "<path " << attrs << " d=\"M" << num(x - r) << " " << num(y - r) << "L" << num(x + r)
        << " " << num(y + r) << "M" << num(x - r) << " " << num(y + r) << "L" << num(x + r) << " "
        << num(y - r) << "\" stroke-width=\"2.2\"";
      break;
  }
}

struct Range {
  double lo = NAN, hi = NAN;
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::isnan(lo) ? v : std::min(lo, v);
    hi = std::isnan(hi) ? v : std::max(hi, v);
  }
  void pad() {
    if (std::isnan(lo)) lo = hi = 0;
    const double span = hi - lo;
    const double m = span > 0 ? 0.05 * span : std::max(1e-9, 0.05 * std::fabs(lo) + 0.5);
    lo -= m;
    hi += m;
  }
};

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  std::vector<double> t;
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo || count < 2) return t;
  if (hi == lo) return {lo};
  const double raw = (hi - lo) / (count - 1);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double m = raw / p;  // in [1, 10)
  const double step = (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
  const double first = std::ceil(lo / step - 1e-9);
  for (int k = 0;; ++k) {
    const double v = (first + k) * step;
    if (v > hi + 1e-9 * step) break;
    t.push_back(std::fabs(v) < 1e-9 * step ? 0.0 : v);
  }
  return t;
}

std::string tick_label(double v) {
  // Large counts (parameters) as 156k, 2.7M, 6.7B rather than 1.56e+05.
  const double a = std::fabs(v);
  const char* suffix = "";
  if (a >= 1e9) {
    v /= 1e9;
    suffix = "B";
  } else if (a >= 1e6) {
    v /= 1e6;
    suffix = "M";
  } else if (a >= 1e4) {
    v /= 1e3;
    suffix = "k";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%s", v, suffix);
  std::string s = buf;
  return s == "-0" ? "0" : s;
}

std::string style_colour(int style) {
  return kColours[((style % kNumColours) + kNumColours) % kNumColours];
}

Marker style_marker(int style) { return static_cast<Marker>(((style % 5) + 5) % 5); }

std::string plot_svg(const Plot& plot) {
  const double W = plot.width, H = plot.height;
  constexpr double kLeft = 78, kRight = 20, kBottom = 52;
  // The legend takes rows of items under the titles.
  struct Item {
    const PlotSeries* s;
    double x, y;
  };
  std::vector<Item> items;
  double lx = kLeft, ly = plot.subtitle.empty() ? 44 : 60;
  for (const PlotSeries& s : plot.series) {
    if (s.name.empty()) continue;
    const double w = 34 + 6.6 * static_cast<double>(s.name.size()) + 16;
    if (lx + w > W - kRight && lx > kLeft) {
      lx = kLeft;
      ly += 18;
    }
    items.push_back({&s, lx, ly});
    lx += w;
  }
  const double top = (items.empty() ? ly - 8 : ly + 14);
  const double pw = W - kLeft - kRight, ph = H - top - kBottom;

  Range xr, yr;
  for (const PlotSeries& s : plot.series) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xr.add(s.x[i]);
      yr.add(s.y[i]);
    }
  }
  for (const PlotBand& b : plot.bands) {
    xr.add(b.lo);
    xr.add(b.hi);
  }
  xr.pad();
  yr.pad();
  auto sx = [&](double x) { return kLeft + (x - xr.lo) / (xr.hi - xr.lo) * pw; };
  auto sy = [&](double y) { return top + ph - (y - yr.lo) / (yr.hi - yr.lo) * ph; };

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\"";
  if (!plot.id.empty()) s << " id=\"" << xml_escape(plot.id) << "\"";
  s << " width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
    << "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\""
    << xml_escape(plot.title) << "\">\n"
    << "<title>" << xml_escape(plot.title) << "</title>\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
    << xml_escape(plot.title) << "</text>\n";
  if (!plot.subtitle.empty()) {
    s << "<text x=\"" << W / 2 << "\" y=\"40\" text-anchor=\"middle\" fill=\"#444\">"
      << xml_escape(plot.subtitle) << "</text>\n";
  }
  for (const PlotBand& b : plot.bands) {
    const double x0 = sx(std::min(b.lo, b.hi)), x1 = sx(std::max(b.lo, b.hi));
    s << "<rect class=\"band\" x=\"" << num(x0) << "\" y=\"" << num(top) << "\" width=\""
      << num(std::max(1.0, x1 - x0)) << "\" height=\"" << num(ph)
      << "\" fill=\"#d9d9d9\" fill-opacity=\"0.6\"/>";
    if (!b.label.empty()) {
      s << "<text x=\"" << num((x0 + x1) / 2) << "\" y=\"" << num(top + 14)
        << "\" text-anchor=\"middle\" fill=\"#333\" font-size=\"11\">" << xml_escape(b.label)
        << "</text>";
    }
    s << "\n";
  }
  s << "<rect x=\"" << kLeft << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\""
    << num(ph) << "\" fill=\"none\" stroke=\"#888\"/>\n";
  std::vector<double> xticks = nice_ticks(xr.lo, xr.hi, 6);
  if (plot.integer_x) {
    xticks.clear();
    const double step = std::max(1.0, std::ceil((xr.hi - xr.lo) / 10));
    for (double t = std::ceil(xr.lo); t <= xr.hi; t += step) xticks.push_back(t);
  }
  for (double t : xticks) {
    s << "<line x1=\"" << num(sx(t)) << "\" y1=\"" << num(top + ph) << "\" x2=\"" << num(sx(t))
      << "\" y2=\"" << num(top + ph + 5) << "\" stroke=\"#888\"/>"
      << "<text x=\"" << num(sx(t)) << "\" y=\"" << num(top + ph + 18)
      << "\" text-anchor=\"middle\">" << tick_label(t) << "</text>\n";
  }
  for (double t : nice_ticks(yr.lo, yr.hi, 6)) {
    s << "<line x1=\"" << kLeft - 5 << "\" y1=\"" << num(sy(t)) << "\" x2=\"" << kLeft << "\" y2=\""
      << num(sy(t)) << "\" stroke=\"#888\"/>"
      << "<line x1=\"" << kLeft << "\" y1=\"" << num(sy(t)) << "\" x2=\"" << num(kLeft + pw)
      << "\" y2=\"" << num(sy(t)) << "\" stroke=\"#eee\"/>"
      << "<text x=\"" << kLeft - 8 << "\" y=\"" << num(sy(t) + 4) << "\" text-anchor=\"end\">"
      << tick_label(t) << "</text>\n";
  }
  s << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">"
    << xml_escape(plot.x_label) << "</text>\n"
    << "<text x=\"18\" y=\"" << num(top + ph / 2)
    << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << num(top + ph / 2) << ")\">"
    << xml_escape(plot.y_label) << "</text>\n";

  for (const PlotSeries& ser : plot.series) {
    const std::string colour = style_colour(ser.style);
    const std::string cls = ser.css_class.empty() ? "" : " " + xml_escape(ser.css_class);
    std::vector<std::pair<double, double>> pts;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < ser.x.size() && i < ser.y.size(); ++i) {
      if (std::isfinite(ser.x[i]) && std::isfinite(ser.y[i])) {
        pts.emplace_back(ser.x[i], ser.y[i]);
        index.push_back(i);
      }
    }
    if (ser.kind == PlotSeries::Kind::kPoints) {
      const Marker m = style_marker(ser.style);
      const double r = ser.emphasised ? 6.5 : 4.5;
      std::string attrs = "class=\"point" + cls + "\"";
      if (m == Marker::kCross) {
        attrs += " fill=\"none\" stroke=\"" + colour + "\"";
      } else {
        attrs += " fill=\"" + colour + "\" fill-opacity=\"" + num(ser.opacity) + "\"";
        if (ser.emphasised) attrs += " stroke=\"#000\" stroke-width=\"1.5\"";
      }
      for (std::size_t k = 0; k < pts.size(); ++k) {
        marker(s, m, sx(pts[k].first), sy(pts[k].second), r, attrs);
        if (index[k] < ser.titles.size()) {
          s << "><title>" << xml_escape(ser.titles[index[k]]) << "</title></"
            << (m == Marker::kCircle   ? "circle"
                : m == Marker::kSquare ? "rect"
                : m == Marker::kCross  ? "path"
                                       : "polygon")
            << ">\n";
        } else {
          s << "/>\n";
        }
      }
      continue;
    }
    if (pts.empty()) continue;
    s << "<path class=\"line" << cls << "\" fill=\"none\" stroke=\"" << colour
      << "\" stroke-width=\"2\"";
    const char* dash = kDashes[((ser.style % kNumDashes) + kNumDashes) % kNumDashes];
    if (*dash != '\0') s << " stroke-dasharray=\"" << dash << "\"";
    s << " d=\"";
    for (std::size_t k = 0; k < pts.size(); ++k) {
      const double x = sx(pts[k].first), y = sy(pts[k].second);
      if (k == 0) {
        s << "M" << num(x) << " " << num(y);
      } else if (ser.kind == PlotSeries::Kind::kStep) {
        s << "H" << num(x) << "V" << num(y);
      } else {
        s << "L" << num(x) << " " << num(y);
      }
    }
    s << "\"/>\n";
  }

  for (const Item& it : items) {
    const PlotSeries& ser = *it.s;
    const std::string colour = style_colour(ser.style);
    if (ser.kind == PlotSeries::Kind::kPoints) {
      const Marker m = style_marker(ser.style);
      marker(s, m, it.x + 10, it.y - 4, 4.5,
             m == Marker::kCross ? "fill=\"none\" stroke=\"" + colour + "\""
                                 : "fill=\"" + colour + "\"");
      s << "/>";
    } else {
      const char* dash = kDashes[((ser.style % kNumDashes) + kNumDashes) % kNumDashes];
      s << "<line x1=\"" << num(it.x) << "\" y1=\"" << num(it.y - 4) << "\" x2=\"" << num(it.x + 24)
        << "\" y2=\"" << num(it.y - 4) << "\" stroke=\"" << colour << "\" stroke-width=\"2\"";
      if (*dash != '\0') s << " stroke-dasharray=\"" << dash << "\"";
      s << "/>";
    }
    s << "<text class=\"legend\" x=\"" << num(it.x + 30) << "\" y=\"" << num(it.y) << "\">"
      << xml_escape(ser.name) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace tracenas
