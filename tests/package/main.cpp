// Builds a small model and writes one block with the installed library: the headers, the
// libraries and their dependencies are all found through find_package(blockscribe).
#include <cstdio>

#include "blocks/generator.h"
#include "core/config.h"
#include "core/model.h"
#include "text/tokenizer.h"

int main() {
  std::vector<std::string> docs;
  for (int i = 0; i < 100; ++i)
    docs.push_back("Elizabeth walked to Longbourn on day " + std::to_string(i) + ". She smiled.\n");
  std::vector<std::string_view> views(docs.begin(), docs.end());
  bs::TokenizerTrainOptions to;
  to.vocab_size = 300;
  const bs::Tokenizer tok = bs::Tokenizer::from_serialized(bs::train_tokenizer(views, to), "tok");
  bs::ModelConfig c;
  c.vocab = tok.vocab_size(), c.d = 32, c.layers = 1, c.heads = 2, c.ffn = 64, c.block = 16;
  bs::Model m(c);
  m.init_random();
  bs::GenOptions o;
  o.steps = 4;
  bs::Generator gen(m, tok, o);
  auto doc = gen.start(tok.encode("Elizabeth"));
  bs::Block b;
  if (!gen.next_block(*doc, b) || b.tokens.size() != 16) return 1;
  std::printf("uses_blockscribe: %zu parameters, one block of %zu tokens\n", m.num_params(),
              b.tokens.size());
  return 0;
}
