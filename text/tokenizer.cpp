#include "text/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "core/error.h"
#include "core/fileio.h"
#include "text/utf8.h"

namespace bs {
namespace {

// The reserved pieces, in id order (ids 0..9). Control symbols never match input text, so the
// literal string "<mask>" in a document encodes as ordinary pieces, not as kMask.
constexpr const char* kReservedPieces[Tokenizer::kNumReserved] = {
    "<pad>", "<unk>", "<s>", "</s>", "<mask>", "<sum>", "<hdr>", "</hdr>", "<ent>", "<evt>"};
constexpr const char* kControlSymbols = "<mask>,<sum>,<hdr>,</hdr>,<ent>,<evt>";

// SentencePiece's internal space symbol (U+2581). A literal one in the input would come back as a
// space, so encode() carries it as its three byte-fallback pieces instead.
constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::load(const std::string& path) {
  std::string bytes = read_file(path);
  return from_serialized(bytes, path);
}

Tokenizer Tokenizer::from_serialized(std::string_view bytes, const std::string& origin) {
  Tokenizer t;
  t.sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  if (bytes.empty()) throw Error(origin, "empty tokenizer model");
  auto st = t.sp_->LoadFromSerializedProto(bytes);
  if (!st.ok()) {
    throw Error(origin, "not a SentencePiece tokenizer model (" + std::string(st.message()) +
                            "); make one with `blockscribe tokenizer train`");
  }
  int n = t.sp_->GetPieceSize();
  if (n < kNumReserved + 256) {
    throw Error(origin, "tokenizer has only " + std::to_string(n) +
                            " pieces; blockscribe needs the 10 reserved ids and 256 byte pieces");
  }
  for (int id = 0; id < kNumReserved; ++id) {
    if (t.sp_->IdToPiece(id) != kReservedPieces[id]) {
      throw Error(origin, "not a blockscribe tokenizer: id " + std::to_string(id) + " is '" +
                              t.sp_->IdToPiece(id) + "', expected '" + kReservedPieces[id] +
                              "'; train one with `blockscribe tokenizer train`");
    }
  }
  if (t.sp_->pad_id() != kPad || t.sp_->unk_id() != kUnk || t.sp_->bos_id() != kBos ||
      t.sp_->eos_id() != kEos) {
    throw Error(origin, "not a blockscribe tokenizer: pad/unk/bos/eos ids are not 0/1/2/3");
  }
  for (int i = 0; i < 3; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", unsigned(uint8_t(kSpaceSymbol[i])));
    int id = t.sp_->PieceToId(name);
    if (id == kUnk || !t.sp_->IsByte(id)) {
      throw Error(origin, "tokenizer was trained without byte fallback (no piece " +
                              std::string(name) + "); retrain with `blockscribe tokenizer train`");
    }
    t.space_bytes_[i] = id;
  }
  t.bytes_ = std::string(bytes);
  t.hash_ = hash64(t.bytes_);
  return t;
}

int Tokenizer::vocab_size() const {
  BS_CHECK(sp_, "tokenizer", "not loaded");
  return sp_->GetPieceSize();
}

std::vector<int> Tokenizer::encode(std::string_view text, const std::string& what) const {
  return encode_with_offsets(text, what).ids;
}

Encoding Tokenizer::encode_with_offsets(std::string_view text, const std::string& what) const {
  BS_CHECK(sp_, "tokenizer", "not loaded");
  require_utf8(text, what);
  Encoding out;
  out.ids.reserve(text.size() / 3 + 4);
  out.spans.reserve(text.size() / 3 + 4);
  // Segments between literal U+2581 characters go through SentencePiece; each U+2581 becomes
  // its three byte pieces, spans laid out as SentencePiece does for byte fallback.
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t hit = text.find(kSpaceSymbol, pos);
    size_t seg_end = hit == std::string_view::npos ? text.size() : hit;
    if (seg_end > pos) {
      auto spt = sp_->EncodeAsImmutableProto(text.substr(pos, seg_end - pos));
      for (const auto& p : spt.pieces()) {
        out.ids.push_back(int(p.id()));
        out.spans.push_back({uint32_t(pos + p.begin()), uint32_t(pos + p.end())});
      }
    }
    if (hit == std::string_view::npos) break;
    uint32_t b = uint32_t(hit), e = uint32_t(hit + kSpaceSymbol.size());
    out.ids.insert(out.ids.end(), {space_bytes_[0], space_bytes_[1], space_bytes_[2]});
    out.spans.insert(out.spans.end(), {TokenSpan{b, b}, TokenSpan{b, b}, TokenSpan{b, e}});
    pos = e;
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int> ids) const {
  BS_CHECK(sp_, "tokenizer", "not loaded");
  const int n = sp_->GetPieceSize();
  std::vector<int> v;
  v.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    int id = ids[i];
    if (id < 0 || id >= n) {
      throw Error("token id " + std::to_string(id), "out of range at position " +
                                                        std::to_string(i) + " (vocab size " +
                                                        std::to_string(n) + ")");
    }
    if (id < kNumReserved) continue;  // reserved ids carry no text
    v.push_back(id);
  }
  std::string s;
  auto st = sp_->Decode(v, &s);
  if (!st.ok()) throw Error("tokenizer decode", std::string(st.message()));
  return s;
}

const std::string& Tokenizer::id_to_piece(int id) const {
  BS_CHECK(sp_, "tokenizer", "not loaded");
  if (id < 0 || id >= sp_->GetPieceSize()) {
    throw Error("token id " + std::to_string(id),
                "out of range (vocab size " + std::to_string(sp_->GetPieceSize()) + ")");
  }
  return sp_->IdToPiece(id);
}

std::string Tokenizer::token_bytes(int id) const {
  const std::string& piece = id_to_piece(id);
  if (id < kNumReserved) return {};
  if (sp_->IsByte(id)) {  // "<0xNN>"
    return std::string(1, char(std::stoi(piece.substr(3, 2), nullptr, 16)));
  }
  static const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space symbol
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Training

namespace {

// Feeds SentencePiece one line at a time. Lines longer than kMaxLine bytes are cut at a space
// (SentencePiece skips lines over its max_sentence_length), keeping the space with the next word
// as encoding does.
class DocLines : public sentencepiece::SentenceIterator {
 public:
  static constexpr size_t kMaxLine = 2000;
  explicit DocLines(std::span<const std::string_view> docs) : docs_(docs) { advance(); }
  bool done() const override { return done_; }
  void Next() override { advance(); }
  const std::string& value() const override { return cur_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void advance() {
    while (doc_ < docs_.size()) {
      std::string_view d = docs_[doc_];
      if (pos_ >= d.size()) {
        ++doc_, pos_ = 0;
        continue;
      }
      size_t nl = d.find('\n', pos_);
      size_t end = nl == std::string_view::npos ? d.size() : nl;
      if (end - pos_ > kMaxLine) {
        size_t cut = d.rfind(' ', pos_ + kMaxLine);
        end = (cut != std::string_view::npos && cut > pos_) ? cut : pos_ + kMaxLine;
        end = utf8_floor(d, end);  // never cut inside a character
        if (end == pos_) end = pos_ + kMaxLine;
        cur_.assign(d.substr(pos_, end - pos_));
        pos_ = end;
      } else {
        cur_.assign(d.substr(pos_, end - pos_));
        pos_ = end + 1;
      }
      if (cur_.empty()) continue;
      return;
    }
    done_ = true;
  }
  std::span<const std::string_view> docs_;
  size_t doc_ = 0, pos_ = 0;
  std::string cur_;
  bool done_ = false;
};

}  // namespace

std::string train_tokenizer(std::span<const std::string_view> docs,
                            const TokenizerTrainOptions& opt) {
  const std::string what = "tokenizer training";
  if (opt.model_type != "unigram" && opt.model_type != "bpe") {
    throw Error(what, "model type '" + opt.model_type + "' unknown; use unigram or bpe");
  }
  if (opt.vocab_size < Tokenizer::kNumReserved + 256 + 16 || opt.vocab_size > 65535) {
    throw Error(what, "vocab size " + std::to_string(opt.vocab_size) +
                          " out of range; use 282..65535 (10 reserved + 256 byte pieces + text)");
  }
  for (size_t i = 0; i < docs.size(); ++i)
    require_utf8(docs[i], what + " document " + std::to_string(i));
  const int threads = opt.num_threads > 0 ? opt.num_threads : 2;  // see TokenizerTrainOptions
  std::unordered_map<std::string, std::string> kw = {
      {"model_type", opt.model_type},
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"character_coverage", std::to_string(opt.character_coverage)},
      {"byte_fallback", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"hard_vocab_limit", "false"},  // tiny corpora give a smaller vocabulary, not an error
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"control_symbols", kControlSymbols},
      {"input_sentence_size", std::to_string(opt.max_sentences)},
      {"shuffle_input_sentence", "true"},
      {"max_sentence_length", std::to_string(DocLines::kMaxLine * 2)},
      {"num_threads", std::to_string(threads)},
      {"minloglevel", opt.quiet ? "2" : "0"},
  };
  // SentencePiece's sampling RNG is process-global; serialise training so the seed holds.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  sentencepiece::SetRandomGeneratorSeed(opt.seed);
  DocLines lines(docs);
  if (lines.done()) throw Error(what, "no text to train on");
  std::string model;
  auto st = sentencepiece::SentencePieceTrainer::Train(kw, &lines, &model);
  if (!st.ok()) {
    // The one failure a user can fix by an option: more characters than the vocabulary holds.
    // SentencePiece says "... 300 vs 2468. Increase vocab_size or decrease character_coverage
    // with --character_coverage option."; say it in blockscribe's words.
    const std::string m(st.message());
    int vocab = 0, chars = 0;
    const size_t at = m.find("smaller than required_chars. ");
    if (at != std::string::npos &&
        std::sscanf(m.c_str() + at + 29, "%d vs %d", &vocab, &chars) == 2)
      throw Error(what, "a vocabulary of " + std::to_string(opt.vocab_size) + " is too small: the "
                        "text needs " + std::to_string(chars) + " pieces for its characters alone "
                        "(give --vocab " + std::to_string(chars + 64) + " or more)");
    throw Error(what, "SentencePiece failed: " + m);
  }
  // Check the result is one we would load (reserved ids in place).
  Tokenizer::from_serialized(model, what + " result");
  return model;
}

}  // namespace bs
