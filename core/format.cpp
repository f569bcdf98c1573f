#include "core/format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace bs {

std::string shortest(float f) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::string(buf, r.ptr);
}

std::string shortest(double d) {
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

double decimal(float f) { return std::strtod(shortest(f).c_str(), nullptr); }

int64_t parse_int(const std::string& s, int64_t lo, int64_t hi, const std::string& what) {
  int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
    throw Error(what, "'" + s + "' is not an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  return v;
}

double parse_number(const std::string& s, double lo, double hi, const std::string& what) {
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v) ||
      v < lo || v > hi)
    throw Error(what, "'" + s + "' is not a number in [" + shortest(lo) + ", " + shortest(hi) +
                          "]");
  return v;
}

std::string closest(const std::string& word, const std::vector<std::string>& choices) {
  // Levenshtein distance, one row at a time.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_d = std::string::npos;
  for (const std::string& c : choices) {
    const size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // A likely typo: at most a third of the word changed (and at least one edit allowed).
  return best_d <= std::max<size_t>(1, word.size() / 3) ? best : "";
}

}  // namespace bs
