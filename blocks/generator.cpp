#include "blocks/generator.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "blocks/layout.h"
#include "core/error.h"
#include "core/fileio.h"
#include "text/sentences.h"
#include "text/utf8.h"

namespace bs {

namespace {

constexpr std::string_view kMaskText = "<mask>";

}  // namespace

GenOptions options_from_config(const GenerateConfig& g, ContextMode memory) {
  GenOptions o;
  o.steps = g.steps;
  o.seed = g.seed;
  while (o.seed == 0) o.seed = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
  o.memory = memory;
  SamplerOptions& s = o.sampler;
  s.strategy = parse_strategy(g.strategy);
  s.threshold = g.threshold;
  s.temperature = g.temperature;
  s.top_k = g.top_k;
  s.top_p = g.top_p;
  s.repeat_penalty = g.repeat_penalty;
  s.repeat_last_n = g.repeat_last_n;
  validate(s);
  return o;
}

Generator::Generator(const Model& m, const Tokenizer& tok, GenOptions o)
    : m_(m), tok_(tok), o_(std::move(o)) {
  validate(o_.sampler);
  if (o_.steps < 1) throw Error("steps " + std::to_string(o_.steps), "must be at least 1");
  if (o_.full_context < 0) throw Error("full context", "must be >= 0 (0 = all earlier tokens)");
  if (tok_.vocab_size() != m_.config().vocab)
    throw Error("tokenizer", "has " + std::to_string(tok_.vocab_size()) +
                                 " pieces but the model's vocabulary is " +
                                 std::to_string(m_.config().vocab));
  if (o_.packed_weights) packed_ = PackedWeights::pack(m_, *backend().ops);
}

std::vector<int> Generator::encode_template(std::string_view text, const std::string& what) const {
  require_utf8(text, what);
  std::vector<int> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t hit = text.find(kMaskText, pos);
    const size_t end = hit == std::string_view::npos ? text.size() : hit;
    std::vector<int> part = tok_.encode(text.substr(pos, end - pos), what);
    ids.insert(ids.end(), part.begin(), part.end());
    if (hit == std::string_view::npos) break;
    ids.push_back(Tokenizer::kMask);
    pos = hit + kMaskText.size();
  }
  return ids;
}

std::unique_ptr<Document> Generator::start(std::span<const int> prompt) const {
  const ModelConfig& c = m_.config();
  std::unique_ptr<Document> d(new Document(m_, *backend().ops));
  d->fc_.set_packed(packed_);
  d->mem_ = std::make_unique<SummaryMemory>(c.max_memory_blocks, c.summary_slots, c.d);
  d->queue_.push_back(Tokenizer::kBos);
  for (int id : prompt) {
    if (id < 0 || id >= c.vocab)
      throw Error("prompt token " + std::to_string(id), "outside the vocabulary");
    d->queue_.push_back(id);
  }
  return d;
}

std::unique_ptr<Document> Generator::restore(std::vector<int> committed,
                                             const std::vector<std::vector<float>>& summaries,
                                             std::span<const int> start_queue, std::string pending,
                                             bool ended) const {
  const ModelConfig& c = m_.config();
  const size_t L = size_t(c.block), KC = size_t(c.summary_slots) * c.d;
  BS_CHECK(committed.size() % L == 0, "session", "committed tokens are not whole blocks");
  BS_CHECK(start_queue.empty() || start_queue[0] == Tokenizer::kBos, "session",
           "the saved queue does not start with <s>");
  std::unique_ptr<Document> d(new Document(m_, *backend().ops));
  d->fc_.set_packed(packed_);
  d->mem_ = std::make_unique<SummaryMemory>(c.max_memory_blocks, c.summary_slots, c.d);
  for (const auto& s : summaries) {
    BS_CHECK(s.size() == KC, "session", "a saved summary has the wrong size for this model");
    d->mem_->push(s);
  }
  for (int t : committed)
    BS_CHECK(t >= 0 && t < c.vocab && t != Tokenizer::kMask, "session",
             "a saved token is outside the vocabulary");
  if (committed.size() < start_queue.size())
    d->queue_.assign(start_queue.begin() + committed.size(), start_queue.end());
  d->committed_ = std::move(committed);
  d->text_.set_pending(std::move(pending));
  d->ended_ = ended;
  return d;
}

int Generator::denoise(Document& d, const BlockContext& ctx, std::vector<int>& x, int block,
                       const StepCallback& cb) const {
  const ModelConfig& c = m_.config();
  const int V = c.vocab;
  std::vector<int> open;
  for (int i = 0; i < int(x.size()); ++i)
    if (x[i] == Tokenizer::kMask) open.push_back(i);
  // Block b's draws depend on (seed, b) only: continuing a document reproduces it.
  std::mt19937_64 rng(splitmix64(o_.seed ^ splitmix64(uint64_t(block))));
  SeqSpec spec = make_block_spec(c, ctx);
  const int P = spec.out_begin;
  spec.select_outputs = true;  // logits for the open positions only
  // Per open position (at most the block): candidate token, q(token), score, the two uniform
  // draws, and the positions chosen this step.
  const size_t L = open.size();
  std::vector<int> token(L), pick(L);
  std::vector<float> prob(L), score(L);
  std::vector<double> u_draw(L), u_score(L);
  kernels::SampleScratch scratch;
  // The repetition penalty's recent text: the last repeat_last_n committed tokens and the block's
  // known tokens, marked per id (V). Ids below kNumReserved never count.
  const bool penalise = o_.sampler.repeat_penalty != 1.f;
  std::vector<uint8_t> recent;
  auto mark_recent = [&] {
    recent.assign(size_t(V), 0);
    const std::vector<int>& done = d.committed_;
    const size_t n = std::min(done.size(), size_t(o_.sampler.repeat_last_n));
    for (size_t i = done.size() - n; i < done.size(); ++i)
      if (done[i] >= Tokenizer::kNumReserved) recent[size_t(done[i])] = 1;
    for (int t : x)
      if (t >= Tokenizer::kNumReserved) recent[size_t(t)] = 1;
  };
  const int n_open = int(open.size());
  int step = 0;
  for (; step < o_.steps && !open.empty(); ++step) {
    spec.outputs = open;
    if (penalise) mark_recent();
    if (step == 0 || !o_.prefix_cache) {
      d.fc_.clear_cache();
      d.fc_.forward(spec, 0);
    } else {
      d.fc_.forward(spec, P);  // prefix rows [0, P) reused: nothing in them sees X
    }
    const float* logits = d.fc_.logits().data();  // (open, V)
    const int n = int(open.size());
    // The draws on the host in a fixed order (each position's candidate, then its random score),
    // so every backend makes the same choices from the same logits.
    for (int j = 0; j < n; ++j) {
      u_draw[size_t(j)] = o_.sampler.temperature > 0.f ? uniform01(rng) : 0.0;
      u_score[size_t(j)] = o_.sampler.strategy == Strategy::random ? uniform01(rng) : 0.0;
    }
    const kernels::Ops& ops = *backend().ops;
    ops.sample_rows(token.data(), prob.data(), score.data(), logits, n, V,
                    sample_args(o_.sampler, recent), u_draw.data(), u_score.data(), scratch);
    const int picked =
        ops.choose_unmask(pick.data(), score.data(), prob.data(), n, o_.steps - step,
                          o_.sampler.strategy == Strategy::threshold ? o_.sampler.threshold : 0.f);
    std::vector<bool> taken(open.size(), false);
    int eos_at = int(x.size());
    for (int i = 0; i < picked; ++i) {
      const int j = pick[size_t(i)];
      x[open[j]] = token[size_t(j)];
      taken[j] = true;
      if (token[size_t(j)] == Tokenizer::kEos) eos_at = std::min(eos_at, open[j]);
    }
    std::vector<int> still;
    for (size_t j = 0; j < open.size(); ++j) {
      if (taken[j]) continue;
      // After an end of document come only </s> (the padding training saw).
      if (open[j] > eos_at) {
        x[open[j]] = Tokenizer::kEos;
        continue;
      }
      still.push_back(open[j]);
    }
    open.swap(still);
    for (int i = 0; i < int(x.size()); ++i) spec.tokens[P + i] = x[i];
    if (cb && !cb(StepInfo{block, step + 1, o_.steps, n_open, int(open.size())})) return -1;
  }
  BS_CHECK(open.empty(), "generator", "positions left open after the last step");
  return step;
}

bool Generator::next_block(Document& d, Block& out, const StepCallback& cb) const {
  if (d.ended_) return false;
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& c = m_.config();
  const int L = c.block, b = d.blocks();
  std::vector<int> x(size_t(L), Tokenizer::kMask);
  const size_t from_queue = std::min(d.queue_.size(), size_t(L));
  std::copy(d.queue_.begin(), d.queue_.begin() + from_queue, x.begin());

  // Context from earlier blocks, by memory mode.
  BlockContext ctx;
  const std::vector<int>& done = d.committed_;
  if (!done.empty() && o_.memory != ContextMode::none) {
    size_t w = size_t(c.window);
    if (o_.memory == ContextMode::full) {
      w = o_.full_context > 0 ? size_t(o_.full_context) : done.size();
      ctx.long_window = true;
    }
    w = std::min(w, done.size());
    ctx.window = std::span<const int>(done.data() + done.size() - w, w);
  }
  if (o_.memory == ContextMode::summary && d.mem_->rows() > 0) {
    ctx.mem = d.mem_->data();
    ctx.mem_rows = d.mem_->rows();
  }
  if (o_.memory == ContextMode::summary) ctx.header = d.header_;  // dropped with the memory, as
  ctx.block = x;                                                  // memory dropout trains it

  // Positions past the token limit hold </s> from the start: the block is written knowing that
  // the document ends there (a template's end, a token budget), as training documents end.
  int64_t room = int64_t(L);  // positions of this block within the limit
  if (d.limit_ > 0) {
    room = std::clamp<int64_t>(d.limit_ + 1 - int64_t(done.size()), 0, L);  // +1: <s> uncounted
    for (int64_t i = room; i < L; ++i)
      if (x[size_t(i)] == Tokenizer::kMask) x[size_t(i)] = Tokenizer::kEos;
  }
  out = Block{};
  out.index = b;
  for (int t : x) out.generated += t == Tokenizer::kMask;
  if (out.generated > 0) {
    out.steps = denoise(d, ctx, x, b, cb);
    if (out.steps < 0) return false;  // aborted: nothing committed
  }
  // End of document: the first </s>, or the token limit (reached in this block, also when it
  // falls on the block's last position); the rest of the block is </s> padding, as in training.
  auto eos = std::find(x.begin(), x.begin() + room, Tokenizer::kEos);
  out.end = eos != x.end() || (d.limit_ > 0 && d.limit_ + 1 - int64_t(done.size()) <= L);
  std::fill(eos, x.end(), Tokenizer::kEos);

  // Commit: the clean pass gives the block's summary (only the summary mode keeps it).
  if (o_.memory == ContextMode::summary) {
    const std::span<const int> prev =
        done.size() >= size_t(L) ? std::span<const int>(done.data() + done.size() - L, size_t(L))
                                 : std::span<const int>();
    std::vector<int> sent = block_sentence_indices(tok_, prev, x);
    ctx.block = x;
    ctx.sentence = sent;
    ctx.slots = true;
    SeqSpec spec = make_block_spec(c, ctx);
    const int P = spec.out_begin;
    spec.select_outputs = true;  // no logits: only Σ's states are read
    if (o_.prefix_cache && out.steps > 0 && d.fc_.cached_rows() >= P) {
      d.fc_.forward(spec, P);
    } else {
      d.fc_.clear_cache();
      d.fc_.forward(spec, 0);
    }
    d.mem_->push(d.fc_.summary());
    out.summary = d.fc_.summary();
  }
  d.committed_.insert(d.committed_.end(), x.begin(), x.end());
  d.queue_.erase(d.queue_.begin(), d.queue_.begin() + from_queue);
  d.ended_ = out.end;

  std::string bytes;
  for (int t : x) bytes += tok_.token_bytes(t);
  out.text = d.text_.push(bytes);
  if (out.end) out.text += d.text_.finish();
  out.tokens = std::move(x);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

}  // namespace bs
