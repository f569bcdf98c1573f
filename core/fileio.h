// File helpers shared by every component: whole-file reads with clear errors, atomic writes
// (temporary file + fsync + rename, so a crash never leaves a half-written file), hashing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace bs {

// Reads a whole file; throws bs::Error("path", "cannot open: <reason>") when missing/unreadable.
std::string read_file(const std::string& path);

// Writes data to path atomically: path.tmp-<pid> is written, fsynced and renamed over path.
// On failure the old file (if any) is untouched and the temporary is removed.
void write_file_atomic(const std::string& path, std::string_view data);

// True while process pid exists (kill(pid, 0) succeeds or is refused for permission).
bool process_alive(long pid);

// Removes the leftovers of processes that died while writing in dir: entries named
// "<prefix><pid>" (a temporary file, or a directory being built), where pid is a decimal number
// and no such process exists. A live process's entries are never touched. Returns the count.
int remove_stale(const std::string& dir, const std::string& prefix);

// 64-bit XXH3 hash of bytes, and its 16-digit lowercase hex form.
uint64_t hash64(std::string_view data);

// SplitMix64 finaliser: derives independent RNG seeds from (seed, counter) pairs.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
std::string hex64(uint64_t h);

}  // namespace bs
