#include "session/session.h"

#include <algorithm>

#include "core/error.h"
#include "core/fileio.h"
#include "memory/codec.h"

namespace bs {

Session::~Session() = default;

std::unique_ptr<Session> Session::create(const Generator& gen, SessionStart start,
                                         const std::string& dir) {
  std::unique_ptr<Session> s(new Session(gen));
  s->doc_ = gen.start(start.prompt);
  s->doc_->set_token_limit(start.token_limit);
  s->mem_.tracker = std::move(start.plan);
  s->default_blocks_ = start.blocks;
  if (!dir.empty()) {
    SessionMeta meta;
    meta.model_hash = start.model_hash;
    meta.tokenizer_hash = hex64(gen.tokenizer().hash());
    meta.model_path = start.model_path;
    meta.options = gen.options();
    meta.blocks = start.blocks;
    meta.queue.push_back(Tokenizer::kBos);
    meta.queue.insert(meta.queue.end(), start.prompt.begin(), start.prompt.end());
    meta.token_limit = start.token_limit;
    meta.facts = s->mem_.tracker.facts();
    s->store_ = SessionStore::create(dir, meta, s->mem_.tracker.entities());
  }
  return s;
}

std::unique_ptr<Session> Session::resume(const Generator& gen, std::unique_ptr<SessionStore> store,
                                         const std::string& model_hash, bool force) {
  BS_CHECK(store, "session", "no store to resume");
  const SessionMeta& meta = store->meta();
  const SessionState& st = store->state();
  const std::string& dir = store->dir();
  std::unique_ptr<Session> s(new Session(gen));
  auto mismatch = [&](const std::string& what, const std::string& stored,
                      const std::string& given) {
    const std::string msg = "was written with another " + what + " (session " + stored +
                            ", given " + given + ")";
    if (!force) throw Error(dir, msg + "; resume with --force to continue anyway");
    s->warning_ = dir + ": " + msg + "; continuing because of --force";
  };
  const std::string tok_hash = hex64(gen.tokenizer().hash());
  if (meta.tokenizer_hash != tok_hash)
    mismatch("tokenizer", meta.tokenizer_hash, tok_hash);
  else if (meta.model_hash != model_hash)
    mismatch("model", meta.model_hash, model_hash);
  if (encode_settings(gen.options(), meta.blocks) != encode_settings(meta.options, meta.blocks))
    throw Error(dir, "the generator's settings are not the session's (make it from "
                     "store->meta().options)");

  // Committed state: every block's tokens, the summaries memory keeps, the entity tracker and
  // the header's latest events, all read (and checked) before anything is written.
  const ModelConfig& c = gen.model().config();
  std::vector<int> tokens;
  std::vector<std::vector<float>> summaries;
  for (int b = 0; b < st.blocks; ++b) {
    Block r = store->block(b);
    if (int(r.tokens.size()) != c.block)
      throw Error(dir, "block " + std::to_string(b) + " holds " + std::to_string(r.tokens.size()) +
                           " tokens; this model's blocks hold " + std::to_string(c.block));
    tokens.insert(tokens.end(), r.tokens.begin(), r.tokens.end());
    if (meta.options.memory == ContextMode::summary && b >= st.blocks - c.max_memory_blocks) {
      if (r.summary.empty()) throw Error(dir, "block " + std::to_string(b) + " has no summary");
      summaries.push_back(std::move(r.summary));
    }
  }
  s->mem_.tracker.restore(store->entities(), meta.facts, st.carry);
  s->mem_.recent = st.recent;
  s->doc_ = gen.restore(std::move(tokens), summaries, meta.queue, st.pending, st.ended);
  s->doc_->set_token_limit(meta.token_limit);
  s->default_blocks_ = meta.blocks;
  // Everything checked: only now is the directory opened for writing (an ended document is
  // never written to again).
  if (!st.ended) store->begin_writing();
  s->store_ = std::move(store);
  return s;
}

bool Session::next_block(Block& out, const StepCallback& cb) {
  const int E = gen_.model().config().header_tokens;
  if (E > 0) {
    header_ = mem_.header(gen_.tokenizer(), E);
    doc_->set_header(header_);
  }
  if (!gen_.next_block(*doc_, out, cb)) return false;
  std::vector<Event> events;
  const std::vector<int> changed = mem_.read(out.index, out.text, out.end, events);
  if (store_) {
    std::vector<Entity> records;
    for (int id : changed) records.push_back(mem_.tracker.entities()[size_t(id)]);
    const SessionState next{out.index + 1, doc_->pending_text(), out.end, mem_.tracker.carry(),
                            mem_.recent};
    store_->commit(out, records, events, next);
  }
  return true;
}

int Session::write(int blocks, const std::function<void(const Block&)>& on_block,
                   const StepCallback& cb) {
  int written = 0;
  Block out;
  while (!ended()) {
    if (queued() == 0 && blocks > 0 && written >= blocks) break;
    if (!next_block(out, cb)) break;
    if (out.generated > 0) ++written;
    if (on_block) on_block(out);
  }
  return written;
}

}  // namespace bs
