// A document written with the library directly (no CLI): load a checkpoint, start a session from
// a prompt, let it commit blocks one by one and print each as it arrives. A step callback watches
// the denoising; returning false from it would abort the block in progress. Passing a directory
// as the fourth argument writes the session to disk as it goes (continue it with
// `blockscribe resume --session DIR`).
//
//   build/cpu-release/samples/write_story MODEL.safetensors "Opening text" [BLOCKS [DIR]]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/checkpoint.h"
#include "core/error.h"
#include "session/session.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors \"opening text\" [blocks [session-dir]]\n",
                 argv[0]);
    return 2;
  }
  const int blocks = argc > 3 ? std::atoi(argv[3]) : 8;
  try {
    bs::Checkpoint ck = bs::load_checkpoint(argv[1]);
    // The checkpoint's [generate] defaults, with a fixed seed and nucleus sampling.
    bs::GenerateConfig g = ck.config.generate;
    g.seed = 2026;
    g.top_p = 0.95f;
    bs::Generator gen(*ck.model, *ck.tokenizer, bs::options_from_config(g));
    bs::SessionStart start;
    start.prompt = ck.tokenizer->encode(argv[2], "prompt");
    start.blocks = blocks;
    start.model_path = argv[1];
    start.model_hash = ck.metadata["data_hash"];
    auto session = bs::Session::create(gen, std::move(start), argc > 4 ? argv[4] : "");
    int steps = 0;
    auto watch = [&](const bs::StepInfo& s) {
      steps = s.step;
      return true;  // keep going
    };
    session->write(
        blocks,
        [](const bs::Block& b) {
          std::fwrite(b.text.data(), 1, b.text.size(), stdout);
          std::fflush(stdout);
        },
        watch);
    std::printf("\n");
    std::fprintf(stderr, "%d blocks committed, last one in %d steps%s\n", session->blocks(), steps,
                 session->ended() ? ", end of document" : "");
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "write_story: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
