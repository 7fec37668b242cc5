// Static charts as inline SVG (no script, no external resource): scatter
// plots, lines and step lines on linear axes, with a shaded band, a legend
// and labelled axes. Used by the study's plot files and the HTML report.
//
// Every series has a style index that picks a colour of a palette chosen to
// stay apart for colour-blind readers (Okabe and Ito's) together with a marker
// shape and a dash pattern, so that series stay distinguishable in greyscale.
// Each drawn point is an element with class "point" (and the series' own
// class), so tests and style sheets can count and address them.
#pragma once

#include <string>
#include <vector>

namespace tracenas {

// Escapes &, <, >, " and ' for XML and HTML text and attribute values.
std::string xml_escape(const std::string& s);

// About `count` round tick values (1, 2 or 5 times a power of ten) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int count);

// A number as a short label: "%.4g", with "-0" written as "0" and 10^4 and
// more as thousands, millions or billions (156k, 2.7M, 6.74B).
std::string tick_label(double v);

// The style's colour (hex) and marker; styles wrap around the palette.
std::string style_colour(int style);
enum class Marker { kCircle, kSquare, kTriangle, kDiamond, kCross };
Marker style_marker(int style);

struct PlotSeries {
  enum class Kind { kPoints, kLine, kStep };
  std::string name;  // legend text; empty: not in the legend
  Kind kind = Kind::kPoints;
  int style = 0;
  std::vector<double> x, y;  // non-finite pairs are skipped
  std::string css_class;     // added to every point (and the path)
  double opacity = 0.8;
  std::vector<std::string> titles;  // per point tooltip (optional, same length as x)
  bool emphasised = false;          // larger marker with a dark outline
};

struct PlotBand {  // a shaded vertical band over [lo, hi] on the x axis
  double lo = 0, hi = 0;
  std::string label;
};

struct Plot {
  std::string title, subtitle;
  std::string x_label, y_label;  // with units
  std::vector<PlotSeries> series;
  std::vector<PlotBand> bands;
  int width = 560, height = 400;
  bool integer_x = false;  // x ticks at whole numbers only (a numbered category axis)
  std::string id;          // the svg element's id (optional)
};

std::string plot_svg(const Plot& plot);

}  // namespace tracenas
