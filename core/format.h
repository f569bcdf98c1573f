// Numbers and words as people read them in messages and files: the shortest decimal that reads
// back as the same float, so a setting of 0.9 prints as 0.9 (in TOML, JSON and messages), not as
// 0.8999999761581421, the double nearest to the float 0.9f; and the did-you-mean of a typo.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bs {

// The shortest decimal form that parses back to exactly f (std::to_chars): "0.9", "1e-05", "nan".
std::string shortest(float f);
std::string shortest(double d);

// The double whose shortest form is shortest(f): give this to a JSON writer instead of f.
double decimal(float f);

// Strict parses of a whole string (no sign for unsigned, no spaces, no trailing characters),
// range-checked; throw bs::Error(what, "'<s>' is not an integer in [lo, hi]" / "... a number").
int64_t parse_int(const std::string& s, int64_t lo, int64_t hi, const std::string& what);
double parse_number(const std::string& s, double lo, double hi, const std::string& what);

// The closest of choices to word by edit distance, when close enough to be a likely typo ("" if
// none): the did-you-mean of unknown commands, options and config keys.
std::string closest(const std::string& word, const std::vector<std::string>& choices);

}  // namespace bs
