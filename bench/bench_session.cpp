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
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/checkpoint.h"
#include "core/error.h"
#include "kernels/thread_pool.h"
#include "session/session.h"

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
  CLI::App app{"Session store benchmark: commit latency, its share of a block, bytes per block"};
  app.add_option("--model", model, "Checkpoint (.safetensors)")->required();
  app.add_option("--blocks", blocks, "Blocks to write")->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--threads", threads, "Threads")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--dir", dir, "Where the session directory is made (and removed)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const std::string session = dir + "/bench-session-" + std::to_string(::getpid());
  try {
    bs::set_num_threads(threads);
    bs::Checkpoint ck = bs::load_checkpoint(model);
    bs::GenOptions o;
    o.sampler.allow_eos = false;  // the full number of blocks
    bs::Generator gen(*ck.model, *ck.tokenizer, o);
    bs::SessionStart start;
    start.model_path = model;
    start.model_hash = ck.metadata["data_hash"];
    auto sess = bs::Session::create(gen, std::move(start), session);
    bs::SessionStore& store = *sess->store();
    const uint64_t empty_bytes = store.disk_bytes();
    std::vector<double> gen_s, commit_s;
    bs::Block out;
    for (int b = 0; b < blocks; ++b) {
      const double t0 = now();
      if (!sess->next_block(out)) break;
      // Block::seconds is the generator's time (denoising and the commit pass); the rest of
      // next_block is the entity tracker and the store's synced batch.
      commit_s.push_back(now() - t0 - out.seconds);
      gen_s.push_back(out.seconds);
    }
    const uint64_t bytes = store.disk_bytes();
    sess.reset();
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
