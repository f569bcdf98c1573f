// Corpus sources: where documents come from, each read into {id, text} documents plus the list
// of inputs (files or script outputs, with their hashes) that `corpus prepare` uses to notice a
// change.
//
// Sources (see docs/DATA.md):
//   DIR          every *.txt below DIR (recursive, sorted by path), one document each
//   FILE.jsonl   one document per line: {"text": "...", "id": "..." (optional)}
//   "stories"    Jane Austen's six novels, one document per chapter (scripts/corpus/austen.R),
//                and the King James Bible, one document per book (scripts/corpus/kjv.sh)
//   "reports"    the kernel's English documentation (linux-doc-6.1 .rst.gz), one document per
//                file with >= 300 words after removing reStructuredText markup
//
// Text layout of a SourceDoc: paragraphs separated by one "\n"; "\r\n" becomes "\n".
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace bs {

struct SourceDoc {  // one document of a corpus source
  std::string id;    // unique within the corpus: relative path, "file.jsonl:12", "austen/emma/07"
  std::string text;  // valid UTF-8
};

// One input the corpus was read from, for change detection.
struct CorpusInput {
  std::string name;   // relative file path, or "scripts/corpus/austen.R output"
  uint64_t hash = 0;  // hash64 of its bytes
};

struct Corpus {
  std::string source;       // as given: "stories", "reports", a folder or a .jsonl path
  std::string description;  // one line for the manifest and progress messages
  std::vector<SourceDoc> docs;
  std::vector<CorpusInput> inputs;  // sorted by name
  size_t skipped = 0;               // inputs that gave no document (empty, too short)
};

using ProgressFn = std::function<void(const std::string&)>;

// Folder of .txt files. Throws bs::Error(path, ...) when missing or not a folder, and
// bs::Error(file, "invalid UTF-8 at byte N") for a bad file. Empty files are skipped.
Corpus read_text_dir(const std::string& dir);

// JSON lines. Errors name "file:line": bad JSON, no "text", non-string "text", invalid UTF-8.
// Empty lines are skipped. Ids: the "id" field when it is a string, else "<file name>:<line>".
Corpus read_jsonl(const std::string& path);
// Same from bytes already in memory (script output); origin names it in errors and ids.
std::vector<SourceDoc> parse_jsonl(std::string_view data, const std::string& origin);

// Built-in sources. Throw bs::Error naming the missing tool or package with an install hint.
inline constexpr const char* kLinuxDocRoot = "/usr/share/doc/linux-doc-6.1/Documentation";
inline constexpr size_t kReportMinWords = 300;
Corpus read_stories(const ProgressFn& progress = nullptr);
Corpus read_reports(const std::string& doc_root = kLinuxDocRoot,
                    const ProgressFn& progress = nullptr);

// Dispatches on spec: "stories", "reports", a folder, or a .jsonl file.
Corpus read_corpus(const std::string& spec, const ProgressFn& progress = nullptr);

// Combined fingerprint of a corpus's inputs (source kind + every input name and hash).
uint64_t inputs_fingerprint(const Corpus& c);

// Folder holding the extraction scripts: $BS_SCRIPTS_DIR, else scripts/corpus found above the
// running executable, else the source tree this binary was built from.
std::string corpus_scripts_dir();

// Reads a gzip file whole (zlib gzopen/gzread). Throws bs::Error(path, ...) on failure.
std::string read_gz_file(const std::string& path);

}  // namespace bs
