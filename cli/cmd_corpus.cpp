// blockscribe corpus prepare|info — documents to token shards (corpus/prepare.h).
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/fileio.h"
#include "corpus/prepare.h"

namespace bs::cli {

void add_corpus_command(CLI::App& app) {
  auto* corpus = app.add_subcommand("corpus", "Prepare training data: documents -> token shards");
  corpus->require_subcommand(1);
  auto* prep = corpus->add_subcommand(
      "prepare",
      "Read a source, split train/validation by document, train the tokenizer (unless given), "
      "write train.bin, val.bin, tokenizer.model and manifest.json into --out. Re-running with "
      "the same inputs and options changes nothing.");
  auto opt = std::make_shared<PrepareOptions>();
  prep->add_option("--source", opt->source,
                   "stories | reports | a folder of .txt files | a .jsonl file (\"text\" field)")
      ->required();
  prep->add_option("--out", opt->out_dir, "Output folder")->required();
  prep->add_option("--tokenizer", opt->tokenizer,
                   "Use this tokenizer .model instead of training one on the train split");
  prep->add_option("--vocab", opt->vocab, "Vocabulary size of the trained tokenizer")
      ->check(IntRange(282, 65535))
      ->capture_default_str();
  prep->add_option("--type", opt->tokenizer_type, "Tokenizer model type when training")
      ->check(CLI::IsMember({"unigram", "bpe"}))
      ->capture_default_str();
  prep->add_option("--val-permille", opt->val_permille,
                   "Documents per thousand that go to validation (by hash of the document id)")
      ->check(IntRange(0, 1000))
      ->capture_default_str();
  prep->add_option("--max-docs", opt->max_docs, "Use only the first N documents (0: all)")
      ->capture_default_str();
  prep->add_flag("--docs", opt->write_docs, "Also write docs.jsonl (the cleaned documents)");
  prep->callback([opt] {
    PrepareResult r = prepare_corpus(
        *opt, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
    std::printf("%s %s: train %zu docs %llu tokens, val %zu docs %llu tokens\n",
                r.up_to_date ? "up to date" : "prepared", opt->out_dir.c_str(), r.train.docs,
                (unsigned long long)r.train.tokens, r.val.docs, (unsigned long long)r.val.tokens);
  });

  auto* info = corpus->add_subcommand(
      "info", "Check a prepared corpus folder (manifest, tokenizer, shards) and print its size");
  auto dir = std::make_shared<std::string>();
  info->add_option("dir", *dir, "Folder written by corpus prepare")->required();
  info->callback([dir] {
    PreparedCorpus c = open_prepared_corpus(*dir);
    std::printf("%s: source %s, tokenizer vocab %d (hash %s)\n", dir->c_str(), c.source.c_str(),
                c.tokenizer.vocab_size(), hex64(c.tokenizer.hash()).c_str());
    for (const ShardReader* r : {&c.train, &c.val}) {
      size_t longest = 0;
      for (size_t i = 0; i < r->num_docs(); ++i) longest = std::max(longest, r->doc_tokens(i));
      std::printf("  %s: %zu docs, %llu tokens, longest doc %zu tokens\n", r->path().c_str(),
                  r->num_docs(), (unsigned long long)r->num_tokens(), longest);
    }
  });
}

}  // namespace bs::cli
