// SentencePiece tokenizer with blockscribe's fixed reserved ids, and its trainer.
//
// Every blockscribe model uses the same ten reserved ids (below); a model file whose ids differ
// is refused at load, so a checkpoint and its tokenizer can never silently disagree. The model
// proto bytes travel inside every checkpoint (serialized() / from_serialized()).
//
// Round trip: decode(encode(s)) == s for every valid UTF-8 string s. The model is trained with
// identity normalisation, no dummy prefix, no whitespace folding and byte fallback, so nothing is
// normalised away and any character outside the vocabulary becomes its UTF-8 bytes. The one
// character SentencePiece itself cannot carry, U+2581 (its internal space symbol), is encoded here
// as its three byte pieces (see tokenizer.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace bs {

// One token's bytes in the encoded input: [begin, end). A character split into byte-fallback
// pieces (as SentencePiece reports them): the leading pieces are empty spans at the character's
// start, the last piece carries the whole character.
struct TokenSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
};

struct Encoding {
  std::vector<int> ids;
  std::vector<TokenSpan> spans;  // same length as ids
};

class Tokenizer {
 public:
  // Reserved ids, fixed across all blockscribe models (checked by load()).
  static constexpr int kPad = 0;          // <pad>
  static constexpr int kUnk = 1;          // <unk> (never produced: byte fallback)
  static constexpr int kBos = 2;          // <s>
  static constexpr int kEos = 3;          // </s>
  static constexpr int kMask = 4;         // <mask>  masked position for diffusion
  static constexpr int kSummary = 5;      // <sum>   summary slot
  static constexpr int kHeaderBegin = 6;  // <hdr>   memory header start
  static constexpr int kHeaderEnd = 7;    // </hdr>  memory header end
  static constexpr int kEntity = 8;       // <ent>   entity entry in the header
  static constexpr int kEvent = 9;        // <evt>   timeline event in the header
  static constexpr int kNumReserved = 10;

  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Loads a .model file. Throws bs::Error(path, ...) when missing, not a SentencePiece model, or
  // a model without blockscribe's reserved ids.
  static Tokenizer load(const std::string& path);
  // Same from the model proto bytes; origin names them in errors ("ckpt.safetensors tokenizer").
  static Tokenizer from_serialized(std::string_view bytes, const std::string& origin);

  const std::string& serialized() const { return bytes_; }  // the model proto bytes
  uint64_t hash() const { return hash_; }                   // hash64(serialized())
  int vocab_size() const;

  // Throws bs::Error(what, "invalid UTF-8 at byte N") on invalid input.
  std::vector<int> encode(std::string_view text, const std::string& what = "text") const;
  Encoding encode_with_offsets(std::string_view text, const std::string& what = "text") const;

  // Reserved ids decode to nothing. Throws bs::Error("token id", ...) for ids out of range.
  std::string decode(std::span<const int> ids) const;
  const std::string& id_to_piece(int id) const;  // throws on out-of-range ids
  // The bytes one token contributes to decoded text: "" for reserved ids, the byte of a
  // byte-fallback piece, otherwise the piece with its space symbol turned into ' '. The bytes of
  // a token sequence, concatenated, equal decode() whenever they form valid UTF-8, so text can be
  // streamed token by token (and a character split across blocks is not lost).
  std::string token_bytes(int id) const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string bytes_;
  uint64_t hash_ = 0;
  int space_bytes_[3] = {0, 0, 0};  // byte-fallback ids of U+2581's UTF-8 bytes E2 96 81
};

struct TokenizerTrainOptions {
  int vocab_size = 4096;
  std::string model_type = "unigram";  // "unigram" | "bpe"
  double character_coverage = 0.9995;
  int max_sentences = 300000;  // SentencePiece samples at most this many training lines
  // SentencePiece's result depends on its thread count (it splits the EM/merge work by thread),
  // so the default is a fixed 2 rather than bs::num_threads(): the same inputs then give the
  // same model on any machine and with any -t. 0 means that default.
  int num_threads = 0;
  uint32_t seed = 20240611;  // fixed, so the same inputs give the same model
  bool quiet = true;         // silence SentencePiece's own logging
};

// Trains a tokenizer on documents (each split into lines of at most ~2 KB for SentencePiece) and
// returns the serialized model proto. Throws bs::Error("tokenizer training", ...) on failure.
std::string train_tokenizer(std::span<const std::string_view> docs,
                            const TokenizerTrainOptions& opt);

}  // namespace bs
