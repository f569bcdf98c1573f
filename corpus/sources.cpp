#include "corpus/sources.h"

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fileio.h"
#include "text/utf8.h"
#include "corpus/clean.h"

namespace bs {
namespace fs = std::filesystem;
namespace {

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n'; });
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool in_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string_view p = path ? path : "/usr/bin:/bin";
  while (!p.empty()) {
    size_t colon = p.find(':');
    std::string dir(p.substr(0, colon));
    if (!dir.empty() && ::access((dir + "/" + tool).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    p.remove_prefix(colon + 1);
  }
  return false;
}

// Runs a shell command and returns its stdout. Its stderr goes to a temporary file so that a
// failing script's own message ("janeaustenr missing ...") ends up in the error.
std::string run_command(const std::string& cmd, const std::string& what) {
  static std::atomic<int> counter{0};
  fs::path err = fs::temp_directory_path() / ("bs-script-" + std::to_string(::getpid()) + "-" +
                                              std::to_string(counter++) + ".err");
  std::string full = cmd + " 2>" + shell_quote(err.string());
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) throw Error(what, "cannot start: " + cmd);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  std::string errtext;
  std::error_code ec;
  if (fs::exists(err, ec)) {
    try {
      errtext = read_file(err.string());
    } catch (const Error&) {
    }
    fs::remove(err, ec);
  }
  if (st != 0) {
    while (!errtext.empty() && (errtext.back() == '\n' || errtext.back() == ' '))
      errtext.pop_back();
    if (errtext.size() > 600) errtext = "..." + errtext.substr(errtext.size() - 600);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    throw Error(what, "failed (exit status " + std::to_string(code) + ")" +
                          (errtext.empty() ? "" : ": " + errtext));
  }
  return out;
}

std::string type_name(const nlohmann::json& j) { return j.type_name(); }

}  // namespace

std::string corpus_scripts_dir() {
  const char* env = std::getenv("BS_SCRIPTS_DIR");
  if (env && *env) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path p = exe.parent_path(); !p.empty(); p = p.parent_path()) {
      if (fs::exists(p / "scripts" / "corpus" / "austen.R", ec)) {
        return (p / "scripts" / "corpus").string();
      }
      if (p == p.root_path()) break;
    }
  }
  // The source tree this file was compiled from (a build that was moved away from it needs
  // BS_SCRIPTS_DIR).
  fs::path src = fs::path(__FILE__).parent_path().parent_path() / "scripts" / "corpus";
  if (fs::exists(src / "austen.R", ec)) return src.string();
  throw Error("scripts/corpus",
              "extraction scripts not found; set BS_SCRIPTS_DIR to the project's scripts/corpus");
}

std::string read_gz_file(const std::string& path) {
  gzFile f = ::gzopen(path.c_str(), "rb");
  if (!f) throw Error(path, "cannot open");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int n = ::gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      std::string msg = ::gzerror(f, &code);
      ::gzclose(f);
      throw Error(path, "cannot decompress: " + msg);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  ::gzclose(f);
  return out;
}

Corpus read_text_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(dir, "folder not found");
  if (!fs::is_directory(dir, ec))
    throw Error(dir, "not a folder (expected a folder of .txt files)");
  Corpus c;
  c.source = dir;
  c.description = "folder " + dir + " (.txt files, one document each)";
  std::vector<std::pair<std::string, fs::path>> files;  // (relative path, path)
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() == ".txt") {
      files.emplace_back(fs::relative(it->path(), dir).generic_string(), it->path());
    }
  }
  if (ec) throw Error(dir, "cannot list: " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& [rel, path] : files) {
    std::string data = read_file(path.string());
    c.inputs.push_back({rel, hash64(data)});
    require_utf8(data, path.string());
    std::string text = normalize_newlines(data);
    if (blank(text)) {
      ++c.skipped;
      continue;
    }
    c.docs.push_back({rel, std::move(text)});
  }
  return c;
}

std::vector<SourceDoc> parse_jsonl(std::string_view data, const std::string& origin) {
  std::vector<SourceDoc> docs;
  std::string base = fs::path(origin).filename().string();
  size_t pos = 0, line_no = 0;
  while (pos < data.size()) {
    ++line_no;
    size_t nl = data.find('\n', pos);
    std::string_view line = data.substr(pos, nl == std::string_view::npos ? data.npos : nl - pos);
    pos = nl == std::string_view::npos ? data.size() : nl + 1;
    if (blank(line) || line == "\r") continue;
    const std::string where = origin + ":" + std::to_string(line_no);
    size_t bad = 0;
    if (!valid_utf8(line, &bad)) {
      throw Error(where, "invalid UTF-8 at byte " + std::to_string(bad) + " of the line");
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      std::string msg = e.what();
      size_t cut = msg.find("parse error");
      throw Error(where,
                  "not valid JSON (" + (cut == std::string::npos ? msg : msg.substr(cut)) + ")");
    }
    if (!j.is_object()) throw Error(where, "expected a JSON object, got a " + type_name(j));
    auto t = j.find("text");
    if (t == j.end()) throw Error(where, "no \"text\" field");
    if (!t->is_string())
      throw Error(where, "\"text\" is a " + type_name(*t) + ", expected a string");
    std::string text = normalize_newlines(t->get_ref<const std::string&>());
    if (blank(text)) continue;
    std::string id;
    auto idf = j.find("id");
    if (idf != j.end() && idf->is_string()) {
      id = idf->get<std::string>();
    } else if (idf != j.end() && idf->is_number()) {
      id = idf->dump();
    } else {
      id = base + ":" + std::to_string(line_no);
    }
    docs.push_back({std::move(id), std::move(text)});
  }
  return docs;
}

Corpus read_jsonl(const std::string& path) {
  std::string data = read_file(path);
  Corpus c;
  c.source = path;
  c.description = "JSON lines " + path;
  c.inputs.push_back({fs::path(path).filename().string(), hash64(data)});
  c.docs = parse_jsonl(data, path);
  return c;
}

Corpus read_stories(const ProgressFn& progress) {
  Corpus c;
  c.source = "stories";
  c.description =
      "stories: Jane Austen's six novels by chapter (r-cran-janeaustenr) + King James Bible by "
      "book (bible-kjv)";
  if (!in_path("Rscript")) {
    throw Error("Rscript",
                "not found: install r-base-core and r-cran-janeaustenr "
                "(scripts/setup.sh does)");
  }
  if (!in_path("bible"))
    throw Error("bible", "not found: install bible-kjv (scripts/setup.sh does)");
  const std::string dir = corpus_scripts_dir();
  struct Part {
    const char* script;
    std::string cmd;
  };
  const Part parts[] = {
      {"austen.R", "Rscript --vanilla " + shell_quote(dir + "/austen.R")},
      {"kjv.sh", "sh " + shell_quote(dir + "/kjv.sh")},
  };
  for (const Part& p : parts) {
    std::string name = std::string("scripts/corpus/") + p.script;
    std::error_code ec;
    if (!fs::exists(dir + "/" + p.script, ec)) throw Error(dir + "/" + p.script, "script missing");
    std::string out = run_command(p.cmd, name);
    c.inputs.push_back({name + " output", hash64(out)});
    std::vector<SourceDoc> docs = parse_jsonl(out, name + " output");
    if (docs.empty()) throw Error(name, "produced no documents");
    if (progress) progress(name + ": " + std::to_string(docs.size()) + " documents");
    for (auto& d : docs) c.docs.push_back(std::move(d));
  }
  return c;
}

Corpus read_reports(const std::string& doc_root, const ProgressFn& progress) {
  std::error_code ec;
  if (!fs::is_directory(doc_root, ec)) {
    throw Error(doc_root, "not found: install linux-doc-6.1 (scripts/setup.sh does)");
  }
  Corpus c;
  c.source = "reports";
  c.description =
      "reports: Linux kernel documentation (linux-doc-6.1 .rst, English), one "
      "document per file of >= " +
      std::to_string(kReportMinWords) + " words";
  std::vector<std::string> files;  // relative paths
  for (auto it = fs::recursive_directory_iterator(doc_root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || name.size() < 7 || name.substr(name.size() - 7) != ".rst.gz") {
      continue;
    }
    std::string rel = fs::relative(it->path(), doc_root).generic_string();
    if (rel.rfind("translations/", 0) == 0) continue;  // English only
    files.push_back(rel);
  }
  if (ec) throw Error(doc_root, "cannot list: " + ec.message());
  if (files.empty()) throw Error(doc_root, "no .rst.gz files: is linux-doc-6.1 installed?");
  std::sort(files.begin(), files.end());
  size_t invalid = 0;
  for (size_t k = 0; k < files.size(); ++k) {
    const std::string& rel = files[k];
    if (progress && k > 0 && k % 1000 == 0) {
      progress("reports: " + std::to_string(k) + "/" + std::to_string(files.size()) +
               " files read");
    }
    std::string rst = read_gz_file(doc_root + "/" + rel);
    c.inputs.push_back({rel, hash64(rst)});
    if (!valid_utf8(rst)) {  // a few files carry Latin-1 bytes; not worth guessing
      ++invalid, ++c.skipped;
      continue;
    }
    std::string text = clean_rst(rst);
    if (count_words(text) < kReportMinWords) {
      ++c.skipped;
      continue;
    }
    c.docs.push_back({rel.substr(0, rel.size() - 3), std::move(text)});
  }
  if (progress) {
    progress("reports: " + std::to_string(files.size()) + " files, " +
             std::to_string(c.docs.size()) + " documents kept, " + std::to_string(c.skipped) +
             " skipped (" + std::to_string(invalid) + " not UTF-8, the rest under " +
             std::to_string(kReportMinWords) + " words)");
  }
  return c;
}

Corpus read_corpus(const std::string& spec, const ProgressFn& progress) {
  if (spec == "stories") return read_stories(progress);
  if (spec == "reports") return read_reports(kLinuxDocRoot, progress);
  std::error_code ec;
  if (!fs::exists(spec, ec)) {
    throw Error(spec, "not found (give stories, reports, a folder of .txt files or a .jsonl file)");
  }
  if (fs::is_directory(spec, ec)) return read_text_dir(spec);
  if (fs::path(spec).extension() == ".jsonl") return read_jsonl(spec);
  throw Error(spec,
              "not a folder or a .jsonl file (give stories, reports, a folder of .txt files "
              "or a .jsonl file)");
}

uint64_t inputs_fingerprint(const Corpus& c) {
  std::string kind = c.source == "stories" || c.source == "reports" ? c.source
                     : fs::path(c.source).extension() == ".jsonl"   ? "jsonl"
                                                                    : "dir";
  std::string s = kind + "\n";
  for (const auto& in : c.inputs) s += in.name + "\t" + hex64(in.hash) + "\n";
  return hash64(s);
}

}  // namespace bs
