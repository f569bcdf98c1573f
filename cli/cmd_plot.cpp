// blockscribe plot — draws the loss curves of one or more runs' metrics.jsonl as an SVG a person
// can open in any browser: training loss (raw, faint; smoothed, solid) and validation NLL bound
// (dashed, with points) against steps or tokens seen (--x).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/fileio.h"

namespace bs::cli {
namespace {

struct Series {
  std::string label, color;
  std::vector<std::pair<double, double>> pts;
  bool faint = false, dots = false;
};

struct PlotArgs {
  std::vector<std::string> metrics;
  std::string out = "loss.svg", x = "step";
};

void run_plot(const PlotArgs& a) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};
  std::vector<Series> series;
  for (size_t f = 0; f < a.metrics.size(); ++f) {
    const std::string text = read_file(a.metrics[f]);
    Series tr, sm, va;
    std::istringstream in(text);
    std::string line;
    int ln = 0;
    while (std::getline(in, line)) {
      ++ln;
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("step"))
        throw Error(a.metrics[f] + ":" + std::to_string(ln),
                    "not a metrics line (JSON object with \"step\")");
      const double x = a.x == "tokens" && j.contains("tokens") ? j["tokens"].get<double>()
                                                               : j["step"].get<double>();
      if (j.contains("loss")) tr.pts.push_back({x, j["loss"].get<double>()});
      if (j.contains("val_nll")) va.pts.push_back({x, j["val_nll"].get<double>()});
    }
    if (tr.pts.empty() && va.pts.empty()) throw Error(a.metrics[f], "holds no loss values");
    const std::string name = a.metrics.size() > 1 ? a.metrics[f] + ": " : "";
    const std::string col = kColors[f % 5];
    double e = NAN;  // exponential moving average, as the eye reads a noisy curve
    for (auto [x, y] : tr.pts) {
      e = std::isnan(e) ? y : 0.9 * e + 0.1 * y;
      sm.pts.push_back({x, e});
    }
    tr.label = name + "train loss", tr.color = col, tr.faint = true;
    sm.label = name + "train loss (smoothed)", sm.color = col;
    va.label = name + "validation NLL bound", va.color = col, va.dots = true;
    for (Series* s : {&tr, &sm, &va})
      if (!s->pts.empty()) series.push_back(*s);
  }
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series)
    for (auto [x, y] : s.pts) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  y0 = std::max(0.0, y0 - 0.05 * (y1 - y0));
  const double W = 800, H = 480, L = 70, R = 20, T = 30, B = 60;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
      << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
         "fill='white'/>\n";
  for (int i = 0; i <= 5; ++i) {  // grid and tick labels
    const double yv = y0 + (y1 - y0) * i / 5, xv = x0 + (x1 - x0) * i / 5;
    char buf[64];
    svg << "<line x1='" << L << "' x2='" << W - R << "' y1='" << py(yv) << "' y2='" << py(yv)
        << "' stroke='#ddd'/>\n";
    std::snprintf(buf, sizeof buf, "%.2f", yv);
    svg << "<text x='" << L - 6 << "' y='" << py(yv) + 4 << "' text-anchor='end'>" << buf
        << "</text>\n";
    std::snprintf(buf, sizeof buf, "%.0f", xv);
    svg << "<text x='" << px(xv) << "' y='" << H - B + 18 << "' text-anchor='middle'>" << buf
        << "</text>\n";
  }
  svg << "<text x='" << (L + W - R) / 2 << "' y='" << H - 20 << "' text-anchor='middle'>" << a.x
      << "</text>\n";
  svg << "<text transform='translate(18," << (T + H - B) / 2
      << ") rotate(-90)' text-anchor='middle'>nats/token</text>\n";
  int legend = 0;
  for (const auto& s : series) {
    svg << "<polyline fill='none' stroke='" << s.color << "' stroke-width='" << (s.faint ? 1 : 2)
        << "' stroke-opacity='" << (s.faint ? 0.3 : 1) << "'"
        << (s.dots ? " stroke-dasharray='6 3'" : "") << " points='";
    for (auto [x, y] : s.pts)
      if (std::isfinite(y)) svg << px(x) << "," << py(y) << " ";
    svg << "'/>\n";
    if (s.dots)
      for (auto [x, y] : s.pts)
        if (std::isfinite(y))
          svg << "<circle cx='" << px(x) << "' cy='" << py(y) << "' r='3' fill='" << s.color
              << "'/>\n";
    if (!s.faint) {
      svg << "<text x='" << W - R - 10 << "' y='" << T + 14 * legend << "' text-anchor='end' fill='"
          << s.color << "'>" << s.label << "</text>\n";
      ++legend;
    }
  }
  svg << "</svg>\n";
  write_file_atomic(a.out, svg.str());
  std::fprintf(stderr, "plot: wrote %s\n", a.out.c_str());
}

}  // namespace

void add_plot_command(CLI::App& app) {
  auto a = std::make_shared<PlotArgs>();
  CLI::App* sub = app.add_subcommand(
      "plot", "Draw training and validation loss curves (metrics.jsonl) to an SVG");
  sub->add_option("metrics", a->metrics, "metrics.jsonl file(s) written by `train`")->required();
  sub->add_option("-o,--out", a->out, "SVG file to write")->capture_default_str();
  sub->add_option("--x", a->x, "Horizontal axis")
      ->check(CLI::IsMember({"step", "tokens"}))
      ->capture_default_str();
  sub->callback([a] { run_plot(*a); });
}

}  // namespace bs::cli
