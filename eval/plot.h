// Loss curves as SVG (what `blockscribe plot` draws from metrics.jsonl): training loss (raw,
// faint; smoothed, solid) and the validation NLL bound (dashed, with points), against steps or
// tokens, with a title, a legend with a swatch of each line's style, round tick values, and every
// label XML-escaped.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace bs {

struct Curve {
  std::string label;                        // legend text (any characters)
  std::vector<std::pair<double, double>> pts;  // (x, y), x increasing
  int color = 0;                            // index into the palette
  enum Style { faint, solid, dashed_dots } style = solid;
};

// Centred moving average of ys: point i is the mean of the points within min(half, i, n-1-i)
// of it, so the window shrinks symmetrically at the ends. Centred, it does not lag behind a
// falling curve the way a trailing average (an EMA) does, and its ends are the data's.
std::vector<double> smooth(const std::vector<double>& ys, int half);

// "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `want` of
// them.
std::vector<double> nice_ticks(double lo, double hi, int want = 6);

// Escapes & < > ' " for XML text and attributes.
std::string xml_escape(const std::string& s);

// The SVG document.
std::string loss_svg(const std::vector<Curve>& curves, const std::string& title,
                     const std::string& x_label);

}  // namespace bs
