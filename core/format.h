// Numbers and words as people read them in messages and files: the shortest decimal that reads
// back as the same float, so a setting of 0.9 prints as 0.9 (in TOML, JSON and messages), not as
// 0.8999999761581421, the double nearest to the float 0.9f; and the did-you-mean of a typo.
#pragma once
#include <string>
#include <vector>

namespace bs {

// The shortest decimal form that parses back to exactly f (std::to_chars): "0.9", "1e-05", "nan".
std::string shortest(float f);

// The double whose shortest form is shortest(f): give this to a JSON writer instead of f.
double decimal(float f);

// The closest of choices to word by edit distance, when close enough to be a likely typo ("" if
// none): the did-you-mean of unknown commands, options and config keys.
std::string closest(const std::string& word, const std::vector<std::string>& choices);

}  // namespace bs
