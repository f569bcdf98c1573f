#include "corpus/prepare.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "core/fileio.h"
#include "text/tokenizer.h"
#include "kernels/thread_pool.h"
#include "corpus/shard.h"

namespace bs {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kTokenizerFile = "tokenizer.model";
constexpr const char* kTrainFile = "train.bin";
constexpr const char* kValFile = "val.bin";
constexpr const char* kDocsFile = "docs.jsonl";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// The options that decide the output; a change in any of them means a rebuild.
json options_json(const PrepareOptions& o, const std::string& given_tokenizer_hash) {
  json j = {
      {"val_permille", o.val_permille}, {"max_docs", o.max_docs}, {"write_docs", o.write_docs}};
  if (given_tokenizer_hash.empty()) {
    j["tokenizer"] = "train";
    j["vocab"] = o.vocab;
    j["tokenizer_type"] = o.tokenizer_type;
  } else {
    j["tokenizer"] = "given";
    j["tokenizer_hash"] = given_tokenizer_hash;
  }
  return j;
}

std::string list_some(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 3; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 3) s += ", ...";
  return s;
}

// Why the existing output cannot be kept, or "" when it is up to date.
std::string stale_reason(const json& m, const fs::path& dir, uint64_t fingerprint,
                         const json& files, const json& options) {
  if (m.value("format", "") != "blockscribe-corpus" || m.value("version", 0) != kManifestVersion) {
    return "manifest.json has another format or version";
  }
  if (m["options"] != options) {
    std::vector<std::string> diff;
    for (auto& [k, v] : options.items()) {
      if (!m["options"].contains(k) || m["options"][k] != v) {
        diff.push_back(k + " " + (m["options"].contains(k) ? m["options"][k].dump() : "-") +
                       " -> " + v.dump());
      }
    }
    return "options changed: " + (diff.empty() ? std::string("(removed)") : list_some(diff));
  }
  if (m["inputs"].value("fingerprint", "") != hex64(fingerprint)) {
    std::vector<std::string> edited, added, removed;
    const json& old = m["inputs"]["files"];
    for (auto& [k, v] : files.items()) {
      if (!old.contains(k))
        added.push_back(k);
      else if (old[k] != v)
        edited.push_back(k);
    }
    for (auto& [k, v] : old.items())
      if (!files.contains(k)) removed.push_back(k);
    std::string s = "inputs changed:";
    if (!edited.empty())
      s += " " + std::to_string(edited.size()) + " edited (" + list_some(edited) + ")";
    if (!added.empty())
      s += " " + std::to_string(added.size()) + " added (" + list_some(added) + ")";
    if (!removed.empty())
      s += " " + std::to_string(removed.size()) + " removed (" + list_some(removed) + ")";
    return s;
  }
  // Every output file must still be the one the manifest describes.
  std::vector<std::pair<std::string, std::string>> outputs = {
      {kTokenizerFile, m["tokenizer"].value("hash", "")}};
  for (const auto& [split, info] : m["splits"].items())
    outputs.push_back({info.value("file", ""), info.value("hash", "")});
  if (m.contains("docs")) outputs.push_back({kDocsFile, m["docs"].value("hash", "")});
  for (const auto& [name, hash] : outputs) {
    std::error_code ec;
    if (!fs::exists(dir / name, ec)) return name + " is missing";
    if (hex64(hash64(read_file((dir / name).string()))) != hash) {
      return name + " does not match manifest.json";
    }
  }
  return "";
}

// Tokenizes every document, on several threads (results do not depend on them).
std::vector<std::vector<int>> encode_all(const std::vector<SourceDoc>& docs, const Tokenizer& tok) {
  std::vector<std::vector<int>> out(docs.size());
  const int threads = std::max(2, num_threads());
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (size_t i = size_t(t); i < docs.size(); i += size_t(threads)) {
          out[i] = tok.encode(docs[i].text, docs[i].id);
        }
      } catch (...) {
        errors[size_t(t)] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

// Files written under temporary names and renamed into place together once all exist.
class Staging {
 public:
  explicit Staging(fs::path dir) : dir_(std::move(dir)) {}
  ~Staging() {
    std::error_code ec;
    for (auto& [name, tmp] : staged_) fs::remove(tmp, ec);
  }
  void add(const std::string& name, std::string_view bytes) {
    fs::path tmp = dir_ / ("." + name + ".new");
    write_file_atomic(tmp.string(), bytes);
    staged_.push_back({name, tmp});
  }
  // Removes the old manifest first, so that a crash between renames never leaves a manifest
  // describing files that were already replaced; the new manifest is renamed last.
  void commit() {
    std::error_code ec;
    fs::remove(dir_ / kManifest, ec);
    std::stable_partition(staged_.begin(), staged_.end(),
                          [](const auto& s) { return s.first != kManifest; });
    for (auto& [name, tmp] : staged_) {
      fs::rename(tmp, dir_ / name, ec);
      if (ec) throw Error((dir_ / name).string(), "cannot rename into place: " + ec.message());
    }
    staged_.clear();
  }

 private:
  fs::path dir_;
  std::vector<std::pair<std::string, fs::path>> staged_;
};

}  // namespace

PreparedCorpus open_prepared_corpus(const std::string& dir_str) {
  const fs::path dir = dir_str;
  const std::string mpath = (dir / kManifest).string();
  const std::string hint = "; run `blockscribe corpus prepare --out " + dir_str + "`";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir_str, "corpus folder not found" + hint);
  if (!fs::exists(mpath, ec)) throw Error(mpath, "not found" + hint);
  json m;
  try {
    m = json::parse(read_file(mpath));
  } catch (const json::exception& e) {
    throw Error(mpath, std::string("not valid JSON (") + e.what() + ")" + hint);
  }
  if (!m.is_object() || m.value("format", "") != "blockscribe-corpus") {
    throw Error(mpath, "not a blockscribe corpus manifest" + hint);
  }
  if (m.value("version", 0) != kManifestVersion) {
    throw Error(mpath, "manifest version " + m.value("version", json(0)).dump() +
                           ", this build reads " + std::to_string(kManifestVersion) + hint);
  }
  try {
    const std::string tok_path = (dir / m.at("tokenizer").at("file").get<std::string>()).string();
    Tokenizer tok = Tokenizer::load(tok_path);
    if (hex64(tok.hash()) != m["tokenizer"].value("hash", "")) {
      throw Error(tok_path, "does not match manifest.json" + hint);
    }
    auto open_split = [&](const char* name) {
      const json& s = m.at("splits").at(name);
      const std::string path = (dir / s.at("file").get<std::string>()).string();
      ShardReader r = ShardReader::open(path);
      if (hex64(r.file_hash()) != s.value("hash", "")) {
        throw Error(path, "does not match manifest.json (changed since it was prepared)" + hint);
      }
      if (r.num_tokens() > 0 && int(r.max_token()) >= tok.vocab_size()) {
        throw Error(path, "token id " + std::to_string(r.max_token()) +
                              " is outside the tokenizer's vocabulary" + hint);
      }
      return r;
    };
    ShardReader train = open_split("train");
    ShardReader val = open_split("val");
    return PreparedCorpus{dir_str, m.value("source", ""), std::move(tok), std::move(train),
                          std::move(val)};
  } catch (const json::exception& e) {
    throw Error(mpath, std::string("incomplete manifest (") + e.what() + ")" + hint);
  }
}

bool is_validation_id(std::string_view id, int val_permille) {
  return int(hash64(id) % 1000) < val_permille;
}

std::vector<bool> split_documents(const std::vector<SourceDoc>& docs, int val_permille) {
  std::vector<bool> val(docs.size());
  size_t n_val = 0;
  for (size_t i = 0; i < docs.size(); ++i)
    n_val += (val[i] = is_validation_id(docs[i].id, val_permille));
  if (val_permille > 0 && docs.size() >= 2 && (n_val == 0 || n_val == docs.size())) {
    auto key = [&](size_t i) { return std::make_pair(hash64(docs[i].id) % 1000, docs[i].id); };
    size_t pick = 0;
    for (size_t i = 1; i < docs.size(); ++i) {
      if (n_val == 0 ? key(i) < key(pick) : key(i) > key(pick)) pick = i;
    }
    val[pick] = n_val == 0;
  }
  return val;
}

PrepareResult prepare_corpus(const PrepareOptions& opt, const ProgressFn& progress_fn) {
  auto t0 = std::chrono::steady_clock::now();
  auto say = [&](const std::string& s) {
    if (progress_fn) progress_fn(s);
  };
  if (opt.val_permille < 0 || opt.val_permille > 1000) {
    throw Error("--val-permille", "must be 0..1000, got " + std::to_string(opt.val_permille));
  }
  if (opt.out_dir.empty()) throw Error("--out", "no output folder given");
  const fs::path dir = opt.out_dir;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw Error(opt.out_dir, "exists and is not a folder");
  }

  // A given tokenizer is checked before the (possibly slow) source is read.
  Tokenizer given;
  std::string given_hash;
  if (!opt.tokenizer.empty()) {
    given = Tokenizer::load(opt.tokenizer);
    given_hash = hex64(given.hash());
  }

  say("corpus: reading " + opt.source);
  Corpus corpus = read_corpus(opt.source, say);
  size_t bytes = 0;
  for (const auto& d : corpus.docs) bytes += d.text.size();
  if (corpus.docs.empty()) {
    throw Error(opt.source, corpus.inputs.empty()
                                ? std::string("no documents: no input files found")
                                : "no documents: all " + std::to_string(corpus.inputs.size()) +
                                      " inputs are empty or too short");
  }
  say("corpus: read " + std::to_string(corpus.docs.size()) + " documents (" +
      fmt("%.1f", bytes / 1e6) + " MB) in " + fmt("%.1f", seconds_since(t0)) + " s");
  if (opt.max_docs > 0 && corpus.docs.size() > opt.max_docs) {
    corpus.docs.resize(opt.max_docs);
    say("corpus: keeping the first " + std::to_string(opt.max_docs) + " documents (--max-docs)");
  }

  const uint64_t fingerprint = inputs_fingerprint(corpus);
  json files = json::object();
  for (const auto& in : corpus.inputs) files[in.name] = hex64(in.hash);
  const json options = options_json(opt, given_hash);

  // Up to date? Then touch nothing.
  json old;
  const fs::path manifest_path = dir / kManifest;
  std::string reason = "no manifest.json yet";
  if (fs::exists(manifest_path, ec)) {
    try {
      old = json::parse(read_file(manifest_path.string()));
      reason = stale_reason(old, dir, fingerprint, files, options);
    } catch (const json::exception& e) {
      old = json();
      reason = "manifest.json unreadable (" + std::string(e.what()) + ")";
    }
  }
  PrepareResult res;
  if (reason.empty()) {
    res.up_to_date = true;
    for (auto [name, st] : {std::pair{"train", &res.train}, std::pair{"val", &res.val}}) {
      st->docs = old["splits"][name].value("docs", size_t(0));
      st->tokens = old["splits"][name].value("tokens", uint64_t(0));
    }
    res.seconds = seconds_since(t0);
    say("corpus: " + opt.out_dir + " is up to date (train " + std::to_string(res.train.docs) +
        " docs, " + std::to_string(res.train.tokens) + " tokens; val " +
        std::to_string(res.val.docs) + " docs, " + std::to_string(res.val.tokens) + " tokens)");
    return res;
  }
  say("corpus: building " + opt.out_dir + ": " + reason);
  fs::create_directories(dir, ec);
  if (ec) throw Error(opt.out_dir, "cannot create folder: " + ec.message());

  // Split.
  std::vector<bool> is_val = split_documents(corpus.docs, opt.val_permille);
  std::vector<std::string_view> train_texts;
  std::string train_ids;  // fingerprint of the tokenizer's training data
  for (size_t i = 0; i < corpus.docs.size(); ++i) {
    if (is_val[i]) continue;
    train_texts.push_back(corpus.docs[i].text);
    train_ids += corpus.docs[i].id + "\t" + hex64(hash64(corpus.docs[i].text)) + "\n";
  }
  const size_t n_val = corpus.docs.size() - train_texts.size();
  say("corpus: split " + std::to_string(train_texts.size()) + " train / " + std::to_string(n_val) +
      " validation documents (val-permille " + std::to_string(opt.val_permille) + ")");
  if (train_texts.empty()) throw Error(opt.source, "every document went to validation");

  // Tokenizer: given, reused (same training data and options), or trained now.
  Tokenizer tok;
  std::string trained_on;
  const fs::path tok_path = dir / kTokenizerFile;
  if (!opt.tokenizer.empty()) {
    tok = std::move(given);
    say("corpus: using tokenizer " + opt.tokenizer + " (vocab " + std::to_string(tok.vocab_size()) +
        ")");
  } else {
    TokenizerTrainOptions to;
    to.vocab_size = opt.vocab;
    to.model_type = opt.tokenizer_type;
    trained_on =
        hex64(hash64(train_ids + opt.tokenizer_type + "\n" + std::to_string(opt.vocab) + "\n" +
                     std::to_string(to.max_sentences) + "\n" + std::to_string(to.seed)));
    bool reused = false;
    if (old.is_object() && old.contains("tokenizer") &&
        old["tokenizer"].value("trained_on", "") == trained_on && fs::exists(tok_path, ec)) {
      std::string bytes = read_file(tok_path.string());
      if (hex64(hash64(bytes)) == old["tokenizer"].value("hash", "")) {
        tok = Tokenizer::from_serialized(bytes, tok_path.string());
        reused = true;
        say("corpus: reusing " + tok_path.string() + " (trained on the same documents)");
      }
    }
    if (!reused) {
      auto tt = std::chrono::steady_clock::now();
      say("corpus: training tokenizer (" + opt.tokenizer_type + ", vocab " +
          std::to_string(opt.vocab) + ") on " + std::to_string(train_texts.size()) + " documents");
      tok = Tokenizer::from_serialized(train_tokenizer(train_texts, to), "trained tokenizer");
      res.tokenizer_trained = true;
      say("corpus: tokenizer trained in " + fmt("%.1f", seconds_since(tt)) + " s (vocab " +
          std::to_string(tok.vocab_size()) + ")");
    }
  }
  if (tok.vocab_size() > 65536) {
    throw Error(opt.tokenizer.empty() ? "tokenizer" : opt.tokenizer,
                "vocab " + std::to_string(tok.vocab_size()) + " does not fit 16-bit shards");
  }

  // Tokenize and write the shards.
  auto te = std::chrono::steady_clock::now();
  std::vector<std::vector<int>> enc = encode_all(corpus.docs, tok);
  ShardWriter train_w, val_w;
  for (size_t i = 0; i < corpus.docs.size(); ++i) {
    SplitStats& st = is_val[i] ? res.val : res.train;
    (is_val[i] ? val_w : train_w).add(enc[i]);
    st.docs++;
    st.tokens += enc[i].size();
  }
  say("corpus: tokenized in " + fmt("%.1f", seconds_since(te)) + " s: train " +
      std::to_string(res.train.tokens) + " tokens, val " + std::to_string(res.val.tokens) +
      " tokens");

  Staging stage(dir);
  json m = {{"format", "blockscribe-corpus"},
            {"version", kManifestVersion},
            {"source", opt.source},
            {"description", corpus.description},
            {"inputs",
             {{"fingerprint", hex64(fingerprint)},
              {"count", corpus.inputs.size()},
              {"skipped", corpus.skipped},
              {"files", files}}},
            {"options", options}};
  const std::string& tok_bytes = tok.serialized();
  m["tokenizer"] = {{"file", kTokenizerFile},
                    {"hash", hex64(tok.hash())},
                    {"vocab_size", tok.vocab_size()},
                    {"trained", opt.tokenizer.empty()},
                    {"trained_on", trained_on}};
  bool same_tok = fs::exists(tok_path, ec) && hash64(read_file(tok_path.string())) == tok.hash();
  if (!same_tok) stage.add(kTokenizerFile, tok_bytes);
  for (auto [name, file, w, st] : {std::tuple{"train", kTrainFile, &train_w, &res.train},
                                   std::tuple{"val", kValFile, &val_w, &res.val}}) {
    std::string bytes = w->bytes();
    m["splits"][name] = {{"file", file},
                         {"hash", hex64(hash64(bytes))},
                         {"docs", st->docs},
                         {"tokens", st->tokens}};
    stage.add(file, bytes);
  }
  if (opt.write_docs) {
    std::string out;
    for (size_t i = 0; i < corpus.docs.size(); ++i) {
      json d = {{"id", corpus.docs[i].id},
                {"split", is_val[i] ? "val" : "train"},
                {"text", corpus.docs[i].text}};
      out += d.dump() + "\n";
    }
    m["docs"] = {{"file", kDocsFile}, {"hash", hex64(hash64(out))}};
    stage.add(kDocsFile, out);
  }
  stage.add(kManifest, m.dump(2) + "\n");
  stage.commit();
  res.seconds = seconds_since(t0);
  say("corpus: wrote " + opt.out_dir + " (train " + std::to_string(res.train.docs) + " docs, " +
      std::to_string(res.train.tokens) + " tokens; val " + std::to_string(res.val.docs) +
      " docs, " + std::to_string(res.val.tokens) + " tokens) in " + fmt("%.1f", res.seconds) +
      " s");
  return res;
}

}  // namespace bs
