// `blockscribe corpus prepare`: documents -> train/validation split -> tokenizer -> token shards
// and a manifest, rebuilt only when an input or an option changed.
//
// Output folder (docs/DATA.md describes each file):
//   tokenizer.model  trained on the train split (or a copy of --tokenizer)
//   train.bin        token shard of the train split (corpus/shard.h)
//   val.bin          token shard of the validation split
//   manifest.json    what the files were made from; written last, so it names a complete set
//   docs.jsonl       optional (--docs): the cleaned documents with their split, for inspection
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"
#include "corpus/shard.h"
#include "corpus/sources.h"

namespace bs {

inline constexpr int kManifestVersion = 2;  // 2: shards without sentence indices

struct PrepareOptions {
  std::string source;  // "stories", "reports", a folder or a .jsonl file
  std::string out_dir;
  std::string tokenizer;  // existing .model to use; empty: train one on the train split
  int vocab = 4096;       // when training
  std::string tokenizer_type = "unigram";  // when training: unigram | bpe
  int val_permille = 20;    // documents with hash64(id) % 1000 < this go to validation
  size_t max_docs = 0;      // 0: all; else the first N documents of the source
  bool write_docs = false;  // also write docs.jsonl
};

struct SplitStats {
  size_t docs = 0;
  uint64_t tokens = 0;
};

struct PrepareResult {
  bool up_to_date = false;  // nothing was written
  bool tokenizer_trained = false;
  SplitStats train, val;
  double seconds = 0;
};

// Throws bs::Error naming the input or output at fault; on any failure the files already in
// out_dir are left as they were. progress receives one line per step (for stderr).
PrepareResult prepare_corpus(const PrepareOptions& opt, const ProgressFn& progress = nullptr);

// A prepared corpus folder, opened for training or evaluation: the manifest is read, the
// tokenizer loaded, both shards mapped and checked (structure, checksum, hash recorded in the
// manifest, token ids below the vocabulary). Throws bs::Error naming the file at fault, with a
// hint to re-run `blockscribe corpus prepare`.
struct PreparedCorpus {
  std::string dir;
  std::string source;  // manifest "source"
  Tokenizer tokenizer;
  ShardReader train;
  ShardReader val;
};
PreparedCorpus open_prepared_corpus(const std::string& dir);

// The deterministic split: true when the document goes to validation. With val_permille > 0
// and at least two documents, split_documents() moves the lowest-hash document to validation if
// none landed there (and the highest back to train if all did).
bool is_validation_id(std::string_view id, int val_permille);
std::vector<bool> split_documents(const std::vector<SourceDoc>& docs, int val_permille);

}  // namespace bs
