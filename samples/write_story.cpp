// A document written with the generator library directly (no CLI): load a checkpoint, start a
// document from a prompt, commit blocks one by one and print each as it arrives. A step callback
// watches the denoising; returning false from it would abort the block in progress.
//
//   build/cpu-release/samples/write_story MODEL.safetensors "Opening text" [BLOCKS]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "blocks/generator.h"
#include "core/checkpoint.h"
#include "core/error.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors \"opening text\" [blocks]\n", argv[0]);
    return 2;
  }
  const int blocks = argc > 3 ? std::atoi(argv[3]) : 8;
  try {
    bs::Checkpoint ck = bs::load_checkpoint(argv[1]);
    bs::GenOptions o;  // defaults: low_confidence, 16 steps, temperature 1, summary memory
    o.sampler.top_p = 0.95f;
    o.seed = 2026;
    bs::Generator gen(*ck.model, *ck.tokenizer, o);
    auto doc = gen.start(ck.tokenizer->encode(argv[2], "prompt"));
    int steps = 0;
    auto watch = [&](const bs::StepInfo& s) {
      steps = s.step;
      return true;  // keep going
    };
    bs::BlockOutput out;
    for (int written = 0; written < blocks && gen.next_block(*doc, out, watch);) {
      std::fwrite(out.text.data(), 1, out.text.size(), stdout);
      std::fflush(stdout);
      if (out.generated > 0) ++written;
    }
    std::printf("\n");
    std::fprintf(stderr, "%d blocks committed, last one in %d steps%s\n", doc->blocks(), steps,
                 doc->ended() ? ", end of document" : "");
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "write_story: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
