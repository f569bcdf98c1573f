#include "bench/quality.h"

#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "corpus/prepare.h"
#include "corpus/shard.h"
#include "corpus/sources.h"

namespace bs::bench {

std::vector<int> text_tokens(const std::vector<int>& t) {
  std::vector<int> out;
  for (int id : t) {
    if (id == Tokenizer::kEos) break;
    if (id != Tokenizer::kBos) out.push_back(id);
  }
  return out;
}

double distinct2(const std::vector<int>& t) {
  std::set<std::pair<int, int>> seen;
  int n = 0;
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i] < Tokenizer::kNumReserved || t[i - 1] < Tokenizer::kNumReserved) continue;
    seen.insert({t[i - 1], t[i]});
    ++n;
  }
  return n ? double(seen.size()) / n : 0;
}

double unigram_entropy(const std::vector<int>& t) {
  std::map<int, int> count;
  int n = 0;
  for (int id : t)
    if (id >= Tokenizer::kNumReserved) ++count[id], ++n;
  double h = 0;
  for (const auto& [id, c] : count) {
    const double p = double(c) / n;
    h -= p * std::log(p);
  }
  return h;
}

namespace {

template <class F>
void each_doc(const ShardReader& r, F&& f) {
  for (size_t d = 0; d < r.num_docs(); ++d) {
    const auto t = r.doc(d).tokens;
    f(std::vector<int>(t.begin(), t.end()));
  }
}

}  // namespace

Judge make_judge(const std::string& dir, const Tokenizer& tok, size_t window) {
  if (Tokenizer::load(dir + "/tokenizer.model").hash() != tok.hash())
    throw Error(dir, "its tokenizer differs from the model's");
  const ShardReader train = ShardReader::open(dir + "/train.bin");
  const ShardReader val = ShardReader::open(dir + "/val.bin");
  Judge j;
  j.ngram = std::make_unique<NgramJudge>(4, tok.vocab_size());
  each_doc(train, [&](const std::vector<int>& d) { j.ngram->add(d); });
  j.ngram->finish();
  double nll = 0, n = 0, d2 = 0, ent = 0;
  int windows = 0;
  each_doc(val, [&](const std::vector<int>& d) {
    nll += j.ngram->nll(d) * double(d.size());
    n += double(d.size());
    for (size_t w = 0; w + window <= d.size(); w += window, ++windows) {
      const std::vector<int> piece(d.begin() + w, d.begin() + w + window);
      d2 += distinct2(piece);
      ent += unigram_entropy(piece);
    }
  });
  j.real_ppl = std::exp(nll / std::max(n, 1.0));
  j.real_d2 = windows ? d2 / windows : NAN;
  j.real_entropy = windows ? ent / windows : NAN;
  return j;
}

RegisterJudges make_register_judges(const Tokenizer& tok, int val_permille, int block) {
  const Corpus c = read_stories();
  const std::vector<bool> val = split_documents(c.docs, val_permille);
  RegisterJudges j;
  j.austen = std::make_unique<NgramJudge>(4, tok.vocab_size());
  j.kjv = std::make_unique<NgramJudge>(4, tok.vocab_size());
  std::vector<std::vector<int>> austen_val;
  for (size_t i = 0; i < c.docs.size(); ++i) {
    const bool austen = c.docs[i].id.rfind("austen/", 0) == 0;
    std::vector<int> ids = tok.encode(c.docs[i].text, c.docs[i].id);
    if (val[i]) {
      if (austen) austen_val.push_back(std::move(ids));
      continue;
    }
    (austen ? j.austen : j.kjv)->add(ids);
  }
  j.austen->finish();
  j.kjv->finish();
  double share = 0;
  int docs = 0;
  for (const auto& d : austen_val) {
    if (d.size() < size_t(block)) continue;
    share += austen_share(j, d, block);
    ++docs;
  }
  j.real_austen_share = docs ? share / docs : NAN;
  return j;
}

double austen_share(const RegisterJudges& j, const std::vector<int>& text, int block) {
  int prefer = 0, blocks = 0;
  for (size_t b = 0; b + size_t(block) <= text.size(); b += size_t(block), ++blocks) {
    const std::span<const int> piece(text.data() + b, size_t(block));
    prefer += j.austen->nll(piece) < j.kjv->nll(piece);
  }
  return blocks ? double(prefer) / blocks : NAN;
}

}  // namespace bs::bench
