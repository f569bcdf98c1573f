// The fuzz targets: one function per reader of untrusted bytes. Each takes any bytes, must never
// crash, hang or read out of bounds, and may only refuse them with a bs::Error; it returns 0.
// fuzz/fuzz_*.cpp wrap them for libFuzzer (built with clang, BS_FUZZ); tests/test_fuzz_corpus
// runs every kept input (fuzz/corpus/<target>/) through them in the unit suite, so a crash found
// once stays a regression test.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace bs::fuzz {

int checkpoint(const uint8_t* data, size_t size);  // a .safetensors checkpoint file
int config(const uint8_t* data, size_t size);      // a TOML config
int session(const uint8_t* data, size_t size);     // byte 0 picks a session file, the rest is it
int tokenizer(const uint8_t* data, size_t size);   // byte 0: 0 = a model proto, else text

// The targets by name ("checkpoint", ...), for the corpus runner; null for an unknown name.
using Target = int (*)(const uint8_t*, size_t);
Target target(const std::string& name);

}  // namespace bs::fuzz
