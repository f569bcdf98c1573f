// blockscribe tokenizer train|encode|decode (text/tokenizer.h).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/fileio.h"
#include "corpus/sources.h"
#include "text/tokenizer.h"

namespace bs::cli {
namespace {

struct TrainArgs {
  std::string input, out, type = "unigram";
  int vocab = 4096;
};

void run_train(const TrainArgs& a) {
  auto t0 = std::chrono::steady_clock::now();
  Corpus c =
      read_corpus(a.input, [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); });
  if (c.docs.empty()) throw Error(a.input, "no documents to train on");
  std::vector<std::string_view> texts;
  size_t bytes = 0;
  for (const auto& d : c.docs) texts.push_back(d.text), bytes += d.text.size();
  std::fprintf(stderr, "tokenizer: training %s, vocab %d, on %zu documents (%.1f MB)\n",
               a.type.c_str(), a.vocab, texts.size(), bytes / 1e6);
  TokenizerTrainOptions o;
  o.vocab_size = a.vocab;
  o.model_type = a.type;
  std::string model = train_tokenizer(texts, o);
  write_file_atomic(a.out, model);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Tokenizer t = Tokenizer::from_serialized(model, a.out);
  std::printf("wrote %s: %s, vocab %d, hash %s, %.1f s\n", a.out.c_str(), a.type.c_str(),
              t.vocab_size(), hex64(t.hash()).c_str(), s);
}

struct EncodeArgs {
  std::string model, text, file;
  bool pieces = false;
};

void run_encode(const EncodeArgs& a, bool have_text) {
  if (have_text == !a.file.empty())
    throw Error("tokenizer encode", "give exactly one of --text or --file");
  Tokenizer t = Tokenizer::load(a.model);
  std::string data = have_text ? a.text : read_file(a.file);
  std::vector<int> ids = t.encode(data, have_text ? "--text" : a.file);
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(' ');
    out += a.pieces ? t.id_to_piece(ids[i]) : std::to_string(ids[i]);
  }
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
}

struct DecodeArgs {
  std::string model, ids, file;
};

void run_decode(const DecodeArgs& a, bool have_ids) {
  if (have_ids == !a.file.empty())
    throw Error("tokenizer decode", "give exactly one of --ids or --file");
  const std::string what = have_ids ? "--ids" : a.file;
  std::string src = have_ids ? a.ids : read_file(a.file);
  Tokenizer t = Tokenizer::load(a.model);
  std::vector<int> ids;
  size_t pos = 0;
  while (true) {
    pos = src.find_first_not_of(" \t\r\n,", pos);
    if (pos == std::string::npos) break;
    size_t end = src.find_first_of(" \t\r\n,", pos);
    std::string tok = src.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    char* stop = nullptr;
    long v = std::strtol(tok.c_str(), &stop, 10);
    if (tok.empty() || *stop != '\0' || tok.size() > 10) {
      throw Error(what, "'" + tok + "' is not a token id (expected integers separated by spaces)");
    }
    if (v < 0 || v >= t.vocab_size()) {
      throw Error(what, "token id " + tok + " out of range (vocab size " +
                            std::to_string(t.vocab_size()) + ")");
    }
    ids.push_back(int(v));
    pos = end;
  }
  std::string text = t.decode(ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

void add_tokenizer_command(CLI::App& app) {
  auto* tok = app.add_subcommand("tokenizer", "Train a tokenizer, or encode/decode with one");
  tok->require_subcommand(1);

  auto* train = tok->add_subcommand(
      "train", "Train a SentencePiece tokenizer with blockscribe's reserved ids");
  auto ta = std::make_shared<TrainArgs>();
  train
      ->add_option("--input", ta->input,
                   "stories | reports | a folder of .txt files | a .jsonl file")
      ->required();
  train->add_option("--out", ta->out, "Output .model file")->required();
  train->add_option("--vocab", ta->vocab, "Vocabulary size")
      ->check(IntRange(282, 65535))
      ->capture_default_str();
  train->add_option("--type", ta->type, "unigram | bpe")
      ->check(CLI::IsMember({"unigram", "bpe"}))
      ->capture_default_str();
  train->callback([ta] { run_train(*ta); });

  auto* enc = tok->add_subcommand("encode", "Print the token ids (or pieces) of a text");
  auto ea = std::make_shared<EncodeArgs>();
  enc->add_option("--model", ea->model, "Tokenizer .model file")->required();
  auto* text_opt = enc->add_option("--text", ea->text, "Text to encode");
  enc->add_option("--file", ea->file, "File to encode")->excludes(text_opt);
  enc->add_flag("--pieces", ea->pieces, "Print pieces instead of ids");
  enc->callback([ea, text_opt] { run_encode(*ea, text_opt->count() > 0); });

  auto* dec = tok->add_subcommand("decode", "Print the text of token ids");
  auto da = std::make_shared<DecodeArgs>();
  dec->add_option("--model", da->model, "Tokenizer .model file")->required();
  auto* ids_opt = dec->add_option("--ids", da->ids, "Token ids, e.g. \"12 7 301\"");
  dec->add_option("--file", da->file, "File of token ids")->excludes(ids_opt);
  dec->callback([da, ids_opt] { run_decode(*da, ids_opt->count() > 0); });
}

}  // namespace bs::cli
