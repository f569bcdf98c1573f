#include "eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace bs {

std::vector<double> smooth(const std::vector<double>& ys, int half) {
  const int n = int(ys.size());
  std::vector<double> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int h = std::min({half, i, n - 1 - i});
    double s = 0;
    for (int j = i - h; j <= i + h; ++j) s += ys[size_t(j)];
    out[size_t(i)] = s / double(2 * h + 1);
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int want) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, want - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&apos;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// A tick label: as few digits as the step needs ("0.5", "2000", "1.5e+06").
std::string tick_label(double v, double step) {
  char buf[32];
  const int decimals = std::max(0, -int(std::floor(std::log10(step) + 1e-9)));
  if (std::abs(v) >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3g", v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string loss_svg(const std::vector<Curve>& curves, const std::string& title,
                     const std::string& x_label) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& c : curves)
    for (auto [x, y] : c.pts) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing finite to draw
  const std::vector<double> xt = nice_ticks(x0, x1), yt = nice_ticks(std::max(0.0, y0), y1);
  x0 = std::min(x0, xt.front()), x1 = std::max(x1, xt.back());
  y0 = std::min(std::max(0.0, y0), yt.front()), y1 = std::max(y1, yt.back());
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double W = 800, H = 500, L = 70, R = 20, T = 50, B = 60;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
      << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
         "fill='white'/>\n";
  svg << "<text x='" << W / 2 << "' y='22' text-anchor='middle' font-size='15'>"
      << xml_escape(title) << "</text>\n";
  const double ys = yt.size() > 1 ? yt[1] - yt[0] : 1, xs = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (double v : yt) {
    svg << "<line x1='" << L << "' x2='" << W - R << "' y1='" << py(v) << "' y2='" << py(v)
        << "' stroke='#ddd'/>\n<text x='" << L - 6 << "' y='" << py(v) + 4
        << "' text-anchor='end'>" << tick_label(v, ys) << "</text>\n";
  }
  for (double v : xt)
    svg << "<line x1='" << px(v) << "' x2='" << px(v) << "' y1='" << H - B << "' y2='"
        << H - B + 5 << "' stroke='#888'/>\n<text x='" << px(v) << "' y='" << H - B + 18
        << "' text-anchor='middle'>" << tick_label(v, xs) << "</text>\n";
  svg << "<text x='" << (L + W - R) / 2 << "' y='" << H - 20 << "' text-anchor='middle'>"
      << xml_escape(x_label) << "</text>\n";
  svg << "<text transform='translate(18," << (T + H - B) / 2
      << ") rotate(-90)' text-anchor='middle'>nats/token</text>\n";
  // The style of a line: stroke attributes shared by the curve and its legend swatch.
  auto stroke = [&](const Curve& c) {
    std::ostringstream s;
    s << "stroke='" << kColors[c.color % 5] << "' stroke-width='" << (c.style == Curve::faint ? 1 : 2)
      << "' stroke-opacity='" << (c.style == Curve::faint ? 0.35 : 1) << "'"
      << (c.style == Curve::dashed_dots ? " stroke-dasharray='6 3'" : "");
    return s.str();
  };
  int legend = 0;
  for (const auto& c : curves) {
    svg << "<polyline fill='none' " << stroke(c) << " points='";
    for (auto [x, y] : c.pts)
      if (std::isfinite(x) && std::isfinite(y)) svg << px(x) << "," << py(y) << " ";
    svg << "'/>\n";
    if (c.style == Curve::dashed_dots)
      for (auto [x, y] : c.pts)
        if (std::isfinite(x) && std::isfinite(y))
          svg << "<circle cx='" << px(x) << "' cy='" << py(y) << "' r='3' fill='"
              << kColors[c.color % 5] << "'/>\n";
    // Legend, top right: a swatch in the line's style, then the label.
    const double ly = T + 4 + 16 * legend++;
    svg << "<line x1='" << W - R - 40 << "' x2='" << W - R - 10 << "' y1='" << ly << "' y2='"
        << ly << "' " << stroke(c) << "/>\n<text x='" << W - R - 46 << "' y='" << ly + 4
        << "' text-anchor='end'>" << xml_escape(c.label) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace bs
