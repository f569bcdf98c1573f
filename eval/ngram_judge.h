// An independent judge of generated text: an interpolated Kneser–Ney token n-gram model of the
// training documents (Chen & Goodman 1998, one discount per order, D = n1 / (n1 + 2·n2)).
//
// Why a second model: the diffusion model's own NLL bound of a text it wrote rewards repetition
// (it reads the whole block both ways, so a phrase repeated in the block is easy to predict
// again), which makes degenerate one-token-per-step text look best. An n-gram model has no
// memory beyond its last order−1 tokens: a repeated phrase scores no better the second time,
// and text unlike the corpus scores badly. Its perplexity on generated text beside its
// perplexity on real held-out text is the "generative perplexity" of the diffusion-LM papers,
// with a judge this machine can build in seconds. It still favours frequent, generic n-grams, so
// it is reported next to a diversity figure (distinct-2), never alone.
//
// P_1(w)     = (max(N1+(·w) − D_1, 0) + D_1 · types_1 / V) / N1+(··)
// P_k(w | h) = (max(c_k(h w) − D_k, 0) + D_k · types_k(h) · P_{k−1}(w | h')) / c_k(h)
//              (h' = h without its first token; P_{k−1}(w | h') when c_k(h) = 0)
// where c_N is the raw count at the highest order N and c_k (k < N) the continuation count (the
// number of distinct tokens seen before the k-gram), c_k(h) = Σ_w c_k(h w), types_k(h) the
// number of w with c_k(h w) > 0. Each P_k sums to 1 over the V ids. Documents are read with N−1
// `<s>` in front, so the first tokens have a context too.
#pragma once
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace bs {

class NgramJudge {
 public:
  // order N in 1..4, vocab V in 1..65536 (ids are packed 16 bits each). Throws bs::Error.
  NgramJudge(int order, int vocab);

  // Counts one document (text tokens, no <s>). Not after finish().
  void add(std::span<const int> doc);
  // Derives the lower orders' continuation counts and the discounts; prob() needs it.
  void finish();

  // P(w | history): the last N−1 tokens of history (fewer: <s> in front).
  double prob(std::span<const int> history, int w) const;
  // Mean −ln P per token of a document (read with <s> in front, like add()); 0 when empty.
  double nll(std::span<const int> doc) const;

  int order() const { return N_; }
  double discount(int k) const { return D_[size_t(k)]; }  // D_k, k in 1..N

 private:
  struct Ctx {
    uint32_t total = 0, types = 0;
  };
  uint64_t key(const int* t, int k) const;  // k tokens packed 16 bits each
  int N_, V_;
  bool finished_ = false;
  std::vector<std::unordered_map<uint64_t, uint32_t>> count_;  // [k]: k-gram → c_k
  std::vector<std::unordered_map<uint64_t, Ctx>> ctx_;  // [k]: (k−1)-gram → c_k(h), types
  std::vector<double> D_;
  uint64_t uni_total_ = 0;
  uint32_t uni_types_ = 0;
};

}  // namespace bs
