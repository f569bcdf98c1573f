#include "eval/evaluate.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "training/masking.h"

namespace bs {

double EvalResult::ppl() const { return std::exp(nll); }

namespace {

// Variance estimate of the mean of S values drawn one per stratum of the rate (evaluate.h):
// strata collapsed into adjacent pairs (a triple at the end when S is odd). 0 for S = 1 (the
// caller reports NaN then).
double collapsed_strata_var(const std::vector<float>& rates, const double* v, int S) {
  if (S < 2) return 0;
  std::vector<int> idx(S);
  for (int k = 0; k < S; ++k) idx[k] = k;
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return rates[a] < rates[b]; });
  double var = 0;
  for (int g0 = 0; g0 < S;) {
    const int g = (S - g0 == 3) ? 3 : 2;
    double mean = 0;
    for (int i = 0; i < g; ++i) mean += v[idx[g0 + i]];
    mean /= g;
    double ss = 0;
    for (int i = 0; i < g; ++i) ss += (v[idx[g0 + i]] - mean) * (v[idx[g0 + i]] - mean);
    var += double(g) / (g - 1) * ss;
    g0 += g;
  }
  return var / (double(S) * S);
}

}  // namespace

EvalResult evaluate(const Model& m, const std::vector<DocBlocks>& docs, const EvalOptions& o,
                    const EvalProgress& progress) {
  BS_CHECK(!docs.empty(), "evaluation", "no documents to evaluate");
  BS_CHECK(o.samples > 0, "evaluation", "samples must be positive");
  // Blocks per document: all, or an even share of max_blocks.
  std::vector<int> take(docs.size());
  int64_t total = 0;
  for (size_t d = 0; d < docs.size(); ++d) take[d] = docs[d].nblocks();
  if (o.max_blocks > 0) {  // the first ceil(max_blocks / docs) blocks of each document
    const int per = int((o.max_blocks + docs.size() - 1) / docs.size());
    for (size_t d = 0; d < docs.size(); ++d) take[d] = std::min(take[d], per);
  }
  for (int t : take) total += t;

  BlockRunner runner(m, o.backend ? *o.backend : kernels::cpu_backend(), o.full_context);
  runner.set_memory_blocks(o.memory_blocks);
  runner.set_use_headers(o.headers);
  std::mt19937_64 rng(o.seed);
  std::vector<double> est;  // per block
  double mc_var = 0;        // Σ over blocks of the variance of the block's mean over samples
  est.reserve(size_t(total));
  const bool need_summary = o.mode == ContextMode::summary;
  for (size_t g0 = 0; g0 < docs.size(); g0 += o.group) {
    const size_t g1 = std::min(docs.size(), g0 + size_t(o.group));
    std::vector<DocState> states(g1 - g0);
    for (size_t i = 0; i < states.size(); ++i) states[i].doc = &docs[g0 + i];
    for (int b = 0;; ++b) {
      std::vector<BlockJob> jobs;
      for (size_t i = 0; i < states.size(); ++i) {
        if (b >= take[g0 + i]) continue;
        BlockJob j;
        j.doc = int(i);
        j.rates = stratified_rates(o.samples, o.mask_eps, rng);
        j.modes.assign(o.samples, o.mode);
        j.clean = need_summary && b + 1 < take[g0 + i];
        jobs.push_back(std::move(j));
      }
      if (jobs.empty()) break;
      Stage st = runner.run(states, jobs, rng, -1);
      for (size_t j = 0; j < jobs.size(); ++j) {
        const double* v = st.block_bound.data() + j * o.samples;
        double s = 0;
        for (int k = 0; k < o.samples; ++k) s += v[k];
        est.push_back(s / o.samples);
        mc_var += collapsed_strata_var(jobs[j].rates, v, o.samples);
      }
      if (progress) progress(int64_t(est.size()), total);
    }
  }
  EvalResult r;
  r.blocks = int64_t(est.size());
  r.passes = r.blocks * o.samples;
  double mean = 0;
  for (double e : est) mean += e;
  mean /= double(est.size());
  double var = 0;
  for (double e : est) var += (e - mean) * (e - mean);
  var /= std::max<double>(1, double(est.size()) - 1);
  r.nll = mean;
  r.ci95 = 1.96 * std::sqrt(var / double(est.size()));
  r.ci95_mc = o.samples > 1 ? 1.96 * std::sqrt(mc_var) / double(est.size()) : NAN;
  r.per_block = std::move(est);
  return r;
}

double validation_nll(const Model& m, const std::vector<DocBlocks>& val, const TrainConfig& tc,
                      const kernels::Backend& be) {
  if (val.empty() || tc.eval_blocks <= 0) return NAN;
  EvalOptions o;
  o.backend = &be;
  o.samples = tc.eval_samples;
  o.max_blocks = tc.eval_blocks;
  o.mask_eps = tc.mask_eps;
  o.full_context = tc.full_context;
  return evaluate(m, val, o).nll;
}

std::pair<double, double> paired_difference(const EvalResult& a, const EvalResult& b) {
  BS_CHECK(a.per_block.size() == b.per_block.size() && !a.per_block.empty(), "paired difference",
           "the two evaluations must cover the same blocks");
  const size_t n = a.per_block.size();
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += a.per_block[i] - b.per_block[i];
  mean /= double(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = a.per_block[i] - b.per_block[i] - mean;
    var += d * d;
  }
  var /= std::max<double>(1, double(n) - 1);
  return {mean, 1.96 * std::sqrt(var / double(n))};
}

}  // namespace bs
