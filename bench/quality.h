// Quality figures that stand beside every speed figure of bench_generate, each with real text's
// value: an independent judge's perplexity (a Kneser–Ney 4-gram of the training split,
// eval/ngram_judge.h), distinct-2 and the unigram entropy of the sample, and the register test
// (after an Austen prompt, the share of generated blocks an Austen-only judge prefers to a King
// James-only one).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "eval/ngram_judge.h"
#include "text/tokenizer.h"

namespace bs::bench {

// The text tokens of a generated document: no <s>, nothing from the first </s> on.
std::vector<int> text_tokens(const std::vector<int>& t);

// Unique / all token bigrams (reserved ids skipped); lower = more repetition.
double distinct2(const std::vector<int>& t);

// Entropy (nats) of the empirical unigram distribution of the text tokens; lower = a narrower
// vocabulary (one way degenerate text shows).
double unigram_entropy(const std::vector<int>& t);

// The judge of a prepared corpus (DIR/train.bin), and real validation text's figures on it:
// judge perplexity, and distinct-2 and unigram entropy as means over windows of `window` tokens
// (a generated document's length: both figures fall with length).
struct Judge {
  std::unique_ptr<NgramJudge> ngram;
  double real_ppl = 0, real_d2 = 0, real_entropy = 0;
};
Judge make_judge(const std::string& dir, const Tokenizer& tok, size_t window);

// Two judges of one register each, from the built-in story corpus's train split (its documents
// read again, split by corpus prepare's rule with val_permille): Austen's novels and the King
// James Bible. real_austen_share: the share of Austen's validation blocks (of `block` tokens)
// the Austen judge prefers, the figure a model that keeps the register should approach.
struct RegisterJudges {
  std::unique_ptr<NgramJudge> austen, kjv;
  double real_austen_share = 0;
};
RegisterJudges make_register_judges(const Tokenizer& tok, int val_permille, int block);

// The share of blocks (consecutive `block`-token pieces of text, whole pieces only) that the
// Austen judge gives a lower NLL than the King James one.
double austen_share(const RegisterJudges& j, const std::vector<int>& text, int block);

}  // namespace bs::bench
