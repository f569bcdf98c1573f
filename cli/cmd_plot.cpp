// blockscribe plot — draws the loss curves of one or more runs' metrics.jsonl as an SVG a person
// can open in any browser (eval/plot.h): training loss (raw, faint; centred moving average,
// solid) and validation NLL bound (dashed, with points) against steps or tokens seen (--x).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/fileio.h"
#include "eval/plot.h"

namespace bs::cli {
namespace {

struct PlotArgs {
  std::vector<std::string> metrics;
  std::string out = "loss.svg", x = "step", title;
};

// A number field of a metrics line, or an error naming the file, line and field.
double number(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = j.at(key);
  if (!v.is_number()) throw Error(where, std::string("'") + key + "' is not a number");
  return v.get<double>();
}

void run_plot(const PlotArgs& a) {
  std::vector<Curve> curves;
  for (size_t f = 0; f < a.metrics.size(); ++f) {
    const std::string text = read_file(a.metrics[f]);
    Curve tr, sm, va;
    std::istringstream in(text);
    std::string line;
    int ln = 0;
    while (std::getline(in, line)) {
      ++ln;
      if (line.empty()) continue;
      const std::string where = a.metrics[f] + ":" + std::to_string(ln);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("step"))
        throw Error(where, "not a metrics line (JSON object with \"step\")");
      const double x = a.x == "tokens" && j.contains("tokens") ? number(j, "tokens", where)
                                                               : number(j, "step", where);
      if (j.contains("loss")) tr.pts.push_back({x, number(j, "loss", where)});
      if (j.contains("val_nll")) va.pts.push_back({x, number(j, "val_nll", where)});
    }
    if (tr.pts.empty() && va.pts.empty()) throw Error(a.metrics[f], "holds no loss values");
    const std::string name = a.metrics.size() > 1 ? a.metrics[f] + ": " : "";
    std::vector<double> ys;
    for (auto [x, y] : tr.pts) ys.push_back(y);
    const std::vector<double> s = smooth(ys, std::clamp(int(ys.size()) / 40, 1, 25));
    for (size_t i = 0; i < tr.pts.size(); ++i) sm.pts.push_back({tr.pts[i].first, s[i]});
    tr.label = name + "train loss", tr.style = Curve::faint;
    sm.label = name + "train loss (centred moving average)", sm.style = Curve::solid;
    va.label = name + "validation NLL bound", va.style = Curve::dashed_dots;
    for (Curve* c : {&tr, &sm, &va}) {
      c->color = int(f);
      if (!c->pts.empty()) curves.push_back(*c);
    }
  }
  const std::string title =
      !a.title.empty()
          ? a.title
          : "Loss curves: " +
                (a.metrics.size() == 1 ? a.metrics[0] : std::to_string(a.metrics.size()) + " runs");
  write_file_atomic(a.out, loss_svg(curves, title, a.x == "tokens" ? "tokens seen" : "step"));
  std::fprintf(stderr, "plot: wrote %s\n", a.out.c_str());
}

}  // namespace

void add_plot_command(CLI::App& app) {
  auto a = std::make_shared<PlotArgs>();
  CLI::App* sub = app.add_subcommand(
      "plot", "Draw training and validation loss curves (metrics.jsonl) to an SVG");
  sub->add_option("metrics", a->metrics, "metrics.jsonl file(s) written by `train`")->required();
  sub->add_option("-o,--out", a->out, "SVG file to write")->capture_default_str();
  sub->add_option("--title", a->title, "Title (default: the metrics file)");
  sub->add_option("--x", a->x, "Horizontal axis")
      ->check(CLI::IsMember({"step", "tokens"}))
      ->capture_default_str();
  sub->callback([a] { run_plot(*a); });
}

}  // namespace bs::cli
