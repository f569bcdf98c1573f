// The loss plot (eval/plot.h): labels are XML-escaped, each legend entry has a swatch, ticks are
// round numbers, there is a title, and the smoothed curve does not lag behind a falling loss.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/plot.h"

namespace {

TEST(Plot, SmoothingIsCentredAndDoesNotLag) {
  // A steeply falling loss, like the first hundred steps of training: 10·exp(-x/30) + 3.
  std::vector<double> y;
  for (int x = 0; x < 400; ++x) y.push_back(10 * std::exp(-x / 30.0) + 3);
  const std::vector<double> s = bs::smooth(y, 10);
  EXPECT_DOUBLE_EQ(s.front(), y.front());  // the ends are the data's
  EXPECT_DOUBLE_EQ(s.back(), y.back());
  // A trailing average of 10 points would sit ~1.6 nats above the curve at x = 20; the centred
  // one stays within its curvature error.
  for (int x : {5, 20, 60, 130, 300}) EXPECT_NEAR(s[x], y[x], 0.03 * y[x]) << "x = " << x;
  // And it does smooth: alternating noise of ±1 around 5 is averaged away in the middle.
  std::vector<double> noisy;
  for (int i = 0; i < 101; ++i) noisy.push_back(5 + (i % 2 ? 1 : -1));
  EXPECT_NEAR(bs::smooth(noisy, 10)[50], 5, 0.1);
}

TEST(Plot, NiceTicks) {
  EXPECT_EQ(bs::nice_ticks(0, 1000), (std::vector<double>{0, 200, 400, 600, 800, 1000}));
  EXPECT_EQ(bs::nice_ticks(3.7, 6.1), (std::vector<double>{4, 4.5, 5, 5.5, 6}));
  EXPECT_EQ(bs::nice_ticks(130, 3600, 5), (std::vector<double>{1000, 2000, 3000}));
}

TEST(Plot, TitleLegendSwatchesAndEscapedLabels) {
  bs::Curve c;
  c.label = "runs/a&b <test>: train loss";
  c.pts = {{0, 6.2}, {10, 5.1}, {20, 4.9}};
  bs::Curve v = c;
  v.label = "validation NLL bound";
  v.style = bs::Curve::dashed_dots;
  const std::string svg = bs::loss_svg({c, v}, "Loss of \"a&b\"", "step");
  EXPECT_NE(svg.find("runs/a&amp;b &lt;test&gt;: train loss"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("a&b <test>"), std::string::npos) << "an unescaped label";
  EXPECT_NE(svg.find(">Loss of &quot;a&amp;b&quot;</text>"), std::string::npos) << svg;
  // One swatch per legend entry: a short line in the curve's style (the dashed one too).
  size_t swatches = 0;
  for (size_t p = svg.find("<line x1='740' x2='770'"); p != std::string::npos;
       p = svg.find("<line x1='740' x2='770'", p + 1))
    ++swatches;
  EXPECT_EQ(swatches, 2u) << svg;
  EXPECT_NE(svg.find("x2='770' y1='70' y2='70' stroke='#1f77b4' stroke-width='2' "
                     "stroke-opacity='1' stroke-dasharray='6 3'"),
            std::string::npos)
      << svg;
  // Round tick labels: 5.0 .. 6.0 in steps of 0.5 (the data: 4.9 .. 6.2), steps 0 .. 20 by 5.
  for (const char* t : {">5.0<", ">5.5<", ">6.0<", ">0<", ">5<", ">10<", ">15<", ">20<"})
    EXPECT_NE(svg.find(t), std::string::npos) << t << "\n" << svg;
}

}  // namespace
