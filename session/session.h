// A document being written, and everything it remembers (DESIGN.md §8): the library object that
// `generate`, `resume`, samples/ and bench/ use, so a behaviour fixed here is fixed in all of them.
//
// It owns the block loop: before each block the header E is rendered from the entity/timeline
// memory (DocumentMemory, the loop training runs too), the generator writes the block, the
// entity tracker reads its text, and — when the session has a store — everything about the block
// goes to disk in one synced batch before the block is handed to the caller. It also owns
// restore: a session continued from its store is in exactly the state an uninterrupted run had
// (tokens, summaries, entities, the header's latest events, pending bytes), so it writes the
// same blocks. Front ends only parse, print and choose limits.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "blocks/generator.h"
#include "memory/entities.h"
#include "memory/session_store.h"

namespace bs {

struct SessionStart {
  std::vector<int> prompt;  // tokens after <s>; Tokenizer::kMask marks an open position
  int64_t token_limit = 0;  // the document ends after this many tokens, <s> not counted (0: no
                            // limit); a template that is not continued ends at its last token
  int blocks = 0;           // blocks a run writes by default (stored for resume)
  EntityTracker plan;       // entities and facts declared before generation (session/plan.h)
  std::string model_path;   // the checkpoint, stored as resume's default
  std::string model_hash;   // its data hash, compared on resume
};

class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // A new document. With dir, it is written into that new session directory as it goes
  // (SessionStore::create's checks apply); without, it lives in memory only.
  static std::unique_ptr<Session> create(const Generator& gen, SessionStart start,
                                         const std::string& dir = "");

  // Continues an open store (SessionStore::open) with gen, which must have been made with the
  // stored settings (store->meta().options) for the model and tokenizer the session was written
  // with. A model or tokenizer other than the stored one is refused, or with force accepted
  // (warning() then says so). Everything resume depends on is read and checked first, and only
  // then is the store opened for writing (SessionStore::begin_writing): a refused session is not
  // modified.
  static std::unique_ptr<Session> resume(const Generator& gen, std::unique_ptr<SessionStore> store,
                                         const std::string& model_hash, bool force = false);

  // Writes the next block, commits it (to the store first, when there is one) and returns it in
  // out. false, with nothing committed, when the document has ended or cb aborted the block.
  bool next_block(Block& out, const StepCallback& cb = {});

  // Writes blocks until `blocks` blocks the sampler writes into are done (queued prompt blocks
  // do not count and always go first; 0: until the document ends), the document ends, or cb
  // aborts; on_block sees each committed block. Returns the blocks the sampler wrote into.
  int write(int blocks, const std::function<void(const Block&)>& on_block,
            const StepCallback& cb = {});

  bool ended() const { return doc_->ended(); }
  int blocks() const { return doc_->blocks(); }  // committed
  size_t queued() const { return doc_->queued(); }
  const Document& document() const { return *doc_; }
  const DocumentMemory& memory() const { return mem_; }
  const std::vector<int>& last_header() const { return header_; }  // E of the latest block
  SessionStore* store() const { return store_.get(); }
  const Generator& generator() const { return gen_; }
  int default_blocks() const { return default_blocks_; }
  const std::string& warning() const { return warning_; }  // set by a forced resume

 private:
  explicit Session(const Generator& gen) : gen_(gen) {}
  const Generator& gen_;
  std::unique_ptr<Document> doc_;
  DocumentMemory mem_;
  std::unique_ptr<SessionStore> store_;
  std::vector<int> header_;
  int default_blocks_ = 0;
  std::string warning_;
};

}  // namespace bs
