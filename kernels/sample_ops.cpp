#include "kernels/sample_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace bs::kernels {

namespace {

bool excluded(int id, const SampleArgs& a) { return id < a.num_reserved && id != a.eos; }

}  // namespace

void candidate_probs(float* q, const float* logits, int V, const SampleArgs& a,
                     std::vector<int>& order) {
  std::fill(q, q + V, 0.f);
  const double inv_t = a.temperature > 0.f ? 1.0 / a.temperature : 1.0;
  const bool penalise = a.repeat_penalty != 1.f && a.recent;
  auto z_of = [&](int v) {
    double l = logits[v];
    if (penalise && a.recent[v]) l = l > 0 ? l / a.repeat_penalty : l * a.repeat_penalty;
    return l * inv_t;
  };
  double mx = -std::numeric_limits<double>::infinity();
  for (int v = 0; v < V; ++v)
    if (!excluded(v, a)) mx = std::max(mx, z_of(v));
  double z = 0;
  for (int v = 0; v < V; ++v) {
    if (excluded(v, a)) continue;
    const double e = std::exp(z_of(v) - mx);
    q[v] = float(e);
    z += e;
  }
  for (int v = 0; v < V; ++v) q[v] = float(q[v] / z);
  if (a.top_k <= 0 && a.top_p >= 1.f) return;

  // Filter: ids by probability, largest first (ties: lower id first).
  order.resize(size_t(V));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return q[x] > q[y]; });
  int keep = V;
  for (int v = 0; v < V; ++v)
    if (excluded(v, a)) --keep;  // excluded ids have q = 0 and sort last
  if (a.top_k > 0) keep = std::min(keep, a.top_k);
  if (a.top_p < 1.f) {
    double mass = 0;
    for (int i = 0; i < keep; ++i) {
      mass += q[order[i]];
      if (mass >= a.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (int i = 0; i < keep; ++i) kept += q[order[i]];
  for (int i = keep; i < V; ++i) q[order[i]] = 0.f;
  for (int i = 0; i < keep; ++i) q[order[i]] = float(q[order[i]] / kept);
}

void sample_rows(int* token, float* prob, float* score, const float* logits, int n, int V,
                 const SampleArgs& a, const double* u_draw, const double* u_score,
                 SampleScratch& scratch) {
  scratch.q.resize(size_t(V));
  const float* q = scratch.q.data();
  for (int i = 0; i < n; ++i) {
    candidate_probs(scratch.q.data(), logits + size_t(i) * V, V, a, scratch.order);
    int tok = -1;
    if (a.temperature > 0.f) {
      const double u = u_draw[i];
      double acc = 0;
      int last = -1;
      for (int v = 0; v < V; ++v) {
        if (q[v] <= 0.f) continue;
        last = v;
        acc += q[v];
        if (u < acc) {
          tok = v;
          break;
        }
      }
      if (tok < 0) tok = last;  // rounding: u beyond the summed mass
    } else {
      tok = int(std::max_element(q, q + V) - q);  // first maximum
    }
    token[i] = tok;
    prob[i] = q[tok];
    switch (a.score) {
      case Score::prob:
        score[i] = q[tok];
        break;
      case Score::margin: {
        float p1 = 0.f, p2 = 0.f;
        for (int v = 0; v < V; ++v) {
          const float p = q[v];
          if (p > p1) {
            p2 = p1;
            p1 = p;
          } else if (p > p2) {
            p2 = p;
          }
        }
        score[i] = p1 - p2;
        break;
      }
      case Score::entropy: {
        double h = 0;
        for (int v = 0; v < V; ++v)
          if (q[v] > 0.f) h -= double(q[v]) * std::log(double(q[v]));
        score[i] = float(-h);
        break;
      }
      case Score::random:
        score[i] = float(u_score[i]);
        break;
    }
  }
}

int choose_unmask(int* chosen, const float* score, const float* prob, int n, int steps_left,
                  float threshold) {
  if (n <= 0) return 0;
  int k = (n + steps_left - 1) / steps_left;  // ceil(n / r): finishes within the step budget
  if (threshold > 0.f) {
    int above = 0;
    for (int i = 0; i < n; ++i) above += prob[i] > threshold;
    k = std::max({k, above, 1});
  }
  k = std::min(k, n);
  std::vector<int> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int x, int y) { return score[x] > score[y]; });
  std::sort(idx.begin(), idx.begin() + k);
  std::copy(idx.begin(), idx.begin() + k, chosen);
  return k;
}

}  // namespace bs::kernels
