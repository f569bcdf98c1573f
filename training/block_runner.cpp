#include "training/block_runner.h"

#include <algorithm>
#include <cstring>

#include "blocks/layout.h"
#include "core/error.h"
#include "memory/entities.h"
#include "text/text_stream.h"
#include "text/tokenizer.h"
#include "training/masking.h"

namespace bs {

Stage BlockRunner::run(std::vector<DocState>& docs, const std::vector<BlockJob>& jobs,
                       std::mt19937_64& rng, int stage_index) {
  const ModelConfig& c = m_.config();
  const int K = c.summary_slots, C = c.d, L = c.block, W = c.window;
  Stage st;
  std::vector<PassSeq> seqs;
  std::vector<float> scale_of;  // per masked seq
  std::vector<float> rate_of;   // per masked pass, in job order
  std::vector<bool> ran;        // per masked pass: false when its mask came out empty

  // Memory of the newest S_max summaries; returns the buffer index (or -1 when empty).
  auto memory = [&](const DocState& ds, std::vector<int>& src) -> int {
    const int keep =
        mem_blocks_ < 0 ? c.max_memory_blocks : std::min(mem_blocks_, c.max_memory_blocks);
    const int n = int(ds.summaries.size()), first = std::max(0, n - keep);
    src.clear();
    if (n == first || K == 0) return -1;
    std::vector<float> buf(size_t(n - first) * K * C);
    for (int j = first; j < n; ++j) {
      std::memcpy(buf.data() + size_t(j - first) * K * C, ds.summaries[j].data(),
                  sizeof(float) * K * C);
      src.push_back(j);
    }
    st.mem.push_back(std::move(buf));
    return int(st.mem.size()) - 1;
  };

  // The specs point into st.mem's inner buffers, which stay put when st.mem itself grows.
  for (const BlockJob& job : jobs) {
    DocState& ds = docs[job.doc];
    const int b = ds.next;
    BS_CHECK(b < ds.doc->nblocks(), "block runner", "document has no block left");
    std::span<const int> clean = ds.doc->block(b), sent = ds.doc->sent(b);
    std::span<const int> win;
    if (b > 0) win = {clean.data() - W, size_t(W)};
    std::vector<int> mem_src;
    int mem_buf = -1;
    bool mem_done = false;
    auto mem_ptr = [&]() -> const float* {
      if (!mem_done) mem_buf = memory(ds, mem_src), mem_done = true;
      return mem_buf < 0 ? nullptr : st.mem[mem_buf].data();
    };
    for (size_t r = 0; r < job.rates.size(); ++r) {
      const float t = job.rates[r];
      std::vector<int> xm;
      std::vector<int> where = mask_block(clean, t, Tokenizer::kMask, rng, xm);
      // BOS is never masked: generation always starts from it, and without one clean token an
      // all-masked first block has no way to tell its positions apart (RoPE is relative).
      if (b == 0 && clean[0] == Tokenizer::kBos && !where.empty() && where[0] == 0) {
        where.erase(where.begin());
        xm[0] = Tokenizer::kBos;
      }
      rate_of.push_back(t);
      st.masked.push_back(where);
      if (where.empty()) {  // contributes 0 to the loss: nothing to run
        ran.push_back(false);
        continue;
      }
      ran.push_back(true);
      BlockContext ctx;
      ctx.block = xm;
      ctx.sentence = sent;
      Stage::SeqInfo info{job.doc, -1, {}};
      switch (job.modes[r]) {
        case ContextMode::summary:
          if (headers_) ctx.header = ds.doc->header(b);
          ctx.mem = mem_ptr();
          ctx.mem_rows = ctx.mem ? int(mem_src.size()) * K : 0;
          ctx.window = win;
          if (ctx.mem) info.mem_src = mem_src;
          break;
        case ContextMode::window:
          ctx.window = win;
          break;
        case ContextMode::none:
          break;
        case ContextMode::full: {
          const size_t start = size_t(b) * L,
                       from = start > size_t(full_context_) ? start - full_context_ : 0;
          ctx.window = {ds.doc->tokens.data() + from, start - from};
          ctx.long_window = true;
          break;
        }
      }
      PassSeq p;
      p.spec = make_block_spec(c, ctx);
      for (int i : where) {
        p.loss_rows.push_back(p.spec.out_begin + i);
        p.targets.push_back(clean[i]);
        p.weights.push_back(job.scale / t);
      }
      st.masked_tokens += int64_t(where.size());
      if (soft_) soft_(p, t, rng);
      seqs.push_back(std::move(p));
      st.seqs.push_back(std::move(info));
    }
    if (job.clean) {
      BlockContext ctx;
      if (headers_) ctx.header = ds.doc->header(b);
      ctx.mem = mem_ptr();
      ctx.mem_rows = ctx.mem ? int(mem_src.size()) * K : 0;
      ctx.window = win;
      ctx.block = clean;
      ctx.sentence = sent;
      ctx.slots = true;
      PassSeq p;
      p.spec = make_block_spec(c, ctx);
      seqs.push_back(std::move(p));
      st.seqs.push_back(
          {job.doc, int(ds.summaries.size()), ctx.mem ? mem_src : std::vector<int>{}});
    }
  }
  if (seqs.empty()) {  // every mask came out empty and no summary is wanted
    st.block_bound.assign(ran.size(), 0.0);
    for (const BlockJob& job : jobs) docs[job.doc].next++;
    return st;
  }
  st.pass = std::make_unique<PackedPass>(m_, ops_, g_);
  st.pass->keep_logits(keep_logits_);
  st.loss = st.pass->forward(std::move(seqs));
  st.flops = st.pass->forward_flops();

  // Per masked pass: its NLL-bound estimate Σ nll / (t·L) (0 for an empty mask).
  const std::vector<float>& nll = st.pass->nll();
  size_t row = 0, q = 0;  // q: sequence index
  for (size_t mi = 0; mi < ran.size(); ++mi) {
    if (!ran[mi]) {
      st.block_bound.push_back(0.0);
      continue;
    }
    while (st.seqs[q].clean_of >= 0) ++q;  // skip clean passes
    const size_t n = st.pass->loss_rows(int(q));
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += nll[row + i];
    row += n;
    ++q;
    st.block_bound.push_back(sum / (double(rate_of[mi]) * L));
  }
  // Commit: summaries become memory; each document moves to its next block.
  for (size_t s = 0; s < st.seqs.size(); ++s) {
    if (st.seqs[s].clean_of < 0) continue;
    DocState& ds = docs[st.seqs[s].doc];
    const float* sum = st.pass->summary(int(s));
    ds.summaries.emplace_back(sum, sum + size_t(K) * C);
  }
  for (const BlockJob& job : jobs) {
    DocState& ds = docs[job.doc];
    if (job.clean) ds.stage_of.push_back(job.grad ? stage_index : -1);
    ds.next++;
  }
  return st;
}

void BlockRunner::backward(std::vector<Stage>& stages, std::vector<DocState>& docs, float* grads) {
  const ModelConfig& c = m_.config();
  const size_t KC = size_t(c.summary_slots) * c.d;
  // d loss / d summary, per document and summary index (allocated on first use).
  std::vector<std::vector<std::vector<float>>> dsum(docs.size());
  for (size_t d = 0; d < docs.size(); ++d) dsum[d].resize(docs[d].summaries.size());
  for (int si = int(stages.size()) - 1; si >= 0; --si) {
    Stage& st = stages[si];
    if (!st.pass) continue;
    std::vector<const float*> ds(st.seqs.size(), nullptr);
    for (size_t s = 0; s < st.seqs.size(); ++s) {
      const auto& info = st.seqs[s];
      if (info.clean_of >= 0 && !dsum[info.doc][info.clean_of].empty())
        ds[s] = dsum[info.doc][info.clean_of].data();
    }
    st.pass->backward(ds, grads);
    for (size_t s = 0; s < st.seqs.size(); ++s) {
      const auto& info = st.seqs[s];
      const float* dm = st.pass->d_mem(int(s));
      for (size_t k = 0; k < info.mem_src.size(); ++k) {
        const int j = info.mem_src[k];
        if (docs[info.doc].stage_of[j] < 0) continue;  // burn-in summary: no gradient
        auto& acc = dsum[info.doc][j];
        if (acc.empty()) acc.assign(KC, 0.f);
        for (size_t i = 0; i < KC; ++i) acc[i] += dm[k * KC + i];
      }
    }
    st.flops = st.pass->flops();
    st.pass.reset();  // free the activations as soon as possible
  }
}

}  // namespace bs
