#include "eval/ngram_judge.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "text/tokenizer.h"

namespace bs {

NgramJudge::NgramJudge(int order, int vocab)
    : N_(order),
      V_(vocab),
      count_(size_t(order) + 1),
      ctx_(size_t(order) + 1),
      D_(size_t(order) + 1, 0.0) {
  if (order < 1 || order > 4) throw Error("n-gram order " + std::to_string(order), "must be 1..4");
  if (vocab < 1 || vocab > 65536)
    throw Error("n-gram vocabulary " + std::to_string(vocab), "must be 1..65536");
}

uint64_t NgramJudge::key(const int* t, int k) const {
  uint64_t h = 0;
  for (int i = 0; i < k; ++i) h = (h << 16) | uint64_t(t[i]);
  return h;
}

void NgramJudge::add(std::span<const int> doc) {
  BS_CHECK(!finished_, "n-gram judge", "add() after finish()");
  std::vector<int> t(size_t(N_ - 1), Tokenizer::kBos);
  for (int id : doc) {
    if (id < 0 || id >= V_) throw Error("token " + std::to_string(id), "outside the vocabulary");
    t.push_back(id);
  }
  for (size_t i = size_t(N_ - 1); i < t.size(); ++i) ++count_[N_][key(&t[i + 1 - N_], N_)];
}

void NgramJudge::finish() {
  BS_CHECK(!finished_, "n-gram judge", "finish() twice");
  // Continuation counts: each distinct (k+1)-gram adds one to its k-token suffix. Every k-gram
  // that ends at a document token is the suffix of the N-gram ending there, so the key sets
  // are the distinct k-grams of the corpus.
  for (int k = N_ - 1; k >= 1; --k) {
    const uint64_t mask = k == 4 ? ~0ull : (1ull << (16 * k)) - 1;
    for (const auto& [g, c] : count_[k + 1]) ++count_[k][g & mask];
  }
  for (int k = 1; k <= N_; ++k) {
    double n1 = 0, n2 = 0;
    for (const auto& [g, c] : count_[k]) {
      n1 += c == 1;
      n2 += c == 2;
      if (k == 1) {
        uni_total_ += c;
        ++uni_types_;
      } else {
        Ctx& x = ctx_[k][g >> 16];  // the k−1 tokens before w
        x.total += c;
        ++x.types;
      }
    }
    // Chen & Goodman's estimate; a corpus too small to have singletons and doubletons gets 0.5.
    D_[k] = n1 > 0 && n2 > 0 ? n1 / (n1 + 2 * n2) : 0.5;
  }
  BS_CHECK(uni_total_ > 0, "n-gram judge", "no tokens were added");
  finished_ = true;
}

double NgramJudge::prob(std::span<const int> history, int w) const {
  BS_CHECK(finished_, "n-gram judge", "prob() before finish()");
  BS_CHECK(w >= 0 && w < V_, "n-gram judge", "token outside the vocabulary");
  // h: the last N−1 tokens of <s>… + history.
  std::vector<int> h(size_t(N_ - 1), Tokenizer::kBos);
  const size_t take = std::min(history.size(), size_t(N_ - 1));
  std::copy(history.end() - take, history.end(), h.end() - take);
  double p;
  {
    auto it = count_[1].find(uint64_t(w));
    const double c = it == count_[1].end() ? 0.0 : it->second;
    p = (std::max(c - D_[1], 0.0) + D_[1] * uni_types_ / V_) / double(uni_total_);
  }
  for (int k = 2; k <= N_; ++k) {
    const int* ctx = h.data() + (N_ - k);  // the last k−1 tokens
    const uint64_t hk = key(ctx, k - 1);
    auto cx = ctx_[k].find(hk);
    if (cx == ctx_[k].end()) continue;  // unseen context: the lower order alone
    auto it = count_[k].find((hk << 16) | uint64_t(w));
    const double c = it == count_[k].end() ? 0.0 : it->second;
    p = (std::max(c - D_[k], 0.0) + D_[k] * cx->second.types * p) / cx->second.total;
  }
  return p;
}

double NgramJudge::nll(std::span<const int> doc) const {
  if (doc.empty()) return 0;
  double s = 0;
  for (size_t i = 0; i < doc.size(); ++i) s -= std::log(prob(doc.first(i), doc[i]));
  return s / double(doc.size());
}

}  // namespace bs
