// Session store benchmark: commit latency per block (one synced RocksDB WriteBatch holding the
// block, its summary, entity updates and timeline), its share of the block's generation time, and
// the session's size on disk per block. Generation is real (the given checkpoint, prefix cache,
// low_confidence, T = 16); the session directory is made under --dir (default: the system's
// temporary directory) and removed afterwards.
//
//   build/cpu-release/bench/bench_session --model runs/story-small/model.safetensors
//       [--blocks 64] [--threads 2] [--dir DIR]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "blocks/generator.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "kernels/thread_pool.h"
#include "memory/entities.h"
#include "memory/session_store.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, dir = std::filesystem::temp_directory_path().string();
  int blocks = 64, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--model"))
      model = argv[i + 1];
    else if (!std::strcmp(argv[i], "--blocks"))
      blocks = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir"))
      dir = argv[i + 1];
    else
      model.clear(), i = argc;
  }
  if (model.empty() || blocks < 1 || threads < 1 || argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: bench_session --model CKPT [--blocks N] [--threads N] [--dir DIR]\n");
    return 2;
  }
  const std::string session = dir + "/bench-session-" + std::to_string(::getpid());
  try {
    bs::set_num_threads(threads);
    bs::Checkpoint ck = bs::load_checkpoint(model);
    bs::GenOptions o;
    o.sampler.allow_eos = false;  // the full number of blocks
    bs::Generator gen(*ck.model, *ck.tokenizer, o);
    bs::SessionMeta meta;
    meta.model_hash = ck.metadata.count("data_hash") ? ck.metadata.at("data_hash") : "";
    meta.tokenizer_hash = bs::hex64(ck.tokenizer->hash());
    meta.model_path = model;
    meta.config = ck.config.to_toml();
    meta.options = "{}";
    meta.queue = {bs::Tokenizer::kBos};
    meta.facts = "[]";
    auto store = bs::SessionStore::create(session, meta);
    const uint64_t empty_bytes = store->disk_bytes();
    auto doc = gen.start({});
    bs::EntityTracker tracker;
    std::vector<double> gen_s, commit_s;
    bs::BlockOutput out;
    for (int b = 0; b < blocks && gen.next_block(*doc, out); ++b) {
      std::vector<bs::Event> events;
      const double t0 = now();
      std::vector<int> changed = tracker.observe(out.index, out.text, out.end, events);
      bs::BlockRecord rec;
      rec.index = out.index;
      rec.tokens = out.tokens;
      rec.text = out.text;
      rec.generated = out.generated, rec.steps = out.steps, rec.seconds = out.seconds;
      rec.summary = doc->last_summary();
      std::map<int, std::string> records;
      for (int id : changed) records[id] = bs::EntityTracker::to_json(tracker.entities()[id]);
      store->commit(rec, records, bs::EntityTracker::events_json(events),
                    {out.index + 1, doc->pending_text(), out.end, tracker.carry()});
      commit_s.push_back(now() - t0);
      gen_s.push_back(out.seconds);
    }
    const uint64_t bytes = store->disk_bytes();
    store.reset();
    const uint64_t closed_bytes = [&] {
      uint64_t n = 0;
      for (const auto& e : std::filesystem::recursive_directory_iterator(session))
        if (e.is_regular_file()) n += e.file_size();
      return n;
    }();
    double share = 0;
    for (size_t i = 0; i < gen_s.size(); ++i) share += commit_s[i] / (gen_s[i] + commit_s[i]);
    share /= double(gen_s.size());
    std::printf("bench_session: %s, %zu blocks of %d tokens, %d threads, sync on\n", model.c_str(),
                gen_s.size(), ck.model->config().block, threads);
    std::printf("generation  median %.1f ms/block\n", 1e3 * median(gen_s));
    std::printf(
        "commit      median %.2f ms/block, max %.2f ms (entities + timeline + synced batch)\n",
        1e3 * median(commit_s), 1e3 * *std::max_element(commit_s.begin(), commit_s.end()));
    std::printf("share       %.2f%% of a block's time (mean over blocks)\n", 100 * share);
    std::printf(
        "size        %.1f KiB per block while open, %.1f KiB per block after close "
        "(empty session %.1f KiB; summary alone %.1f KiB)\n",
        (bytes - empty_bytes) / 1024.0 / gen_s.size(),
        (closed_bytes - empty_bytes) / 1024.0 / gen_s.size(), empty_bytes / 1024.0,
        ck.model->config().summary_slots * ck.model->config().d * 4 / 1024.0);
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "bench_session: error: %s\n", e.what());
    std::filesystem::remove_all(session);
    return 1;
  }
  std::filesystem::remove_all(session);
  return 0;
}
