// blockscribe memory — inspects a generation session (read-only: nothing is written, no lock is
// taken): its entities, timeline, blocks, a summary with the text, or everything as JSON.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/format.h"
#include "memory/codec.h"
#include "memory/session_store.h"
#include "text/utf8.h"

namespace bs::cli {
namespace {

struct MemoryArgs {
  std::string what, session, out;
  bool json = false;
};

nlohmann::json block_json(const Block& b, bool with_summary) {
  nlohmann::json j = encode_block(b);
  if (with_summary) {
    nlohmann::json v = nlohmann::json::array();
    for (float x : b.summary) v.push_back(decimal(x));
    j["summary"] = v;
  }
  return j;
}

std::string one_line(std::string s, size_t max) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() <= max) return s;
  return s.substr(0, utf8_floor(s, max)) + "...";
}

void run_memory(const MemoryArgs& a) {
  auto store = SessionStore::open_read_only(a.session);
  const SessionMeta& m = store->meta();
  const SessionState& st = store->state();
  std::vector<nlohmann::json> entities;
  for (const Entity& e : store->entities()) entities.push_back(encode_entity(e));
  auto timeline = [&] {
    nlohmann::json all = encode_events(m.facts);
    for (int b = 0; b < st.blocks; ++b)
      for (const Event& e : store->timeline(b)) all.push_back(encode_event(e));
    return all;
  };
  const nlohmann::json settings = encode_settings(m.options, m.blocks);

  if (a.what == "entities") {
    if (a.json) {
      std::printf("%s\n", nlohmann::json(entities).dump(2).c_str());
      return;
    }
    std::printf("%-4s %-32s %-10s %6s %6s %8s  %s\n", "id", "name", "kind", "first", "last",
                "mentions", "aliases");
    for (const auto& e : entities) {
      std::string al;
      for (const auto& x : e.at("aliases")) al += (al.empty() ? "" : ", ") + x.get<std::string>();
      std::printf("%-4d %-32s %-10s %6d %6d %8d  %s\n", e.at("id").get<int>(),
                  one_line(e.at("name").get<std::string>(), 32).c_str(),
                  e.at("kind").get<std::string>().c_str(), e.at("first_block").get<int>(),
                  e.at("last_block").get<int>(), e.at("mentions").get<int>(), al.c_str());
    }
  } else if (a.what == "timeline") {
    nlohmann::json all = timeline();
    if (a.json) {
      std::printf("%s\n", all.dump(2).c_str());
      return;
    }
    for (const auto& e : all) {
      std::string times;
      for (const auto& t : e.value("times", nlohmann::json::array()))
        times += "[" + t.get<std::string>() + "] ";
      const int b = e.at("block").get<int>();
      std::printf("%-8s %s%s%s\n", b < 0 ? "plan" : ("block " + std::to_string(b)).c_str(),
                  e.value("chapter", false) ? "(chapter) " : "", times.c_str(),
                  one_line(e.at("sentence").get<std::string>(), 160).c_str());
    }
  } else if (a.what == "blocks") {
    for (int b = 0; b < st.blocks; ++b) {
      Block r = store->block(b);
      if (a.json) {
        std::printf("%s\n", block_json(r, false).dump().c_str());
      } else {
        std::printf("block %-5d %3d written %3d steps %7.3f s%s  %s\n", b, r.generated, r.steps,
                    r.seconds, r.end ? "  end" : "", one_line(r.text, 70).c_str());
      }
    }
  } else if (a.what == "show") {
    std::string text;
    for (int b = 0; b < st.blocks; ++b) text += store->block(b).text;
    nlohmann::json j = {{"session", a.session},
                        {"format_version", m.format_version},
                        {"model_path", m.model_path},
                        {"model_hash", m.model_hash},
                        {"tokenizer_hash", m.tokenizer_hash},
                        {"settings", settings},
                        {"blocks", st.blocks},
                        {"ended", st.ended},
                        {"entities", entities.size()},
                        {"disk_bytes", store->disk_bytes()},
                        {"text", text}};
    if (a.json) {
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    std::printf("session   %s (format %d)\nmodel     %s (hash %s, tokenizer %s)\n",
                a.session.c_str(), m.format_version, m.model_path.c_str(), m.model_hash.c_str(),
                m.tokenizer_hash.c_str());
    std::printf("settings  %s\nblocks    %d%s, %zu entities, %.1f KiB on disk\n\n%s\n",
                settings.dump().c_str(), st.blocks, st.ended ? " (ended)" : "", entities.size(),
                store->disk_bytes() / 1024.0, text.c_str());
  } else {  // export
    nlohmann::json blocks = nlohmann::json::array();
    for (int b = 0; b < st.blocks; ++b) blocks.push_back(block_json(store->block(b), true));
    nlohmann::json j = {{"format", "blockscribe-session-export"},
                        {"format_version", m.format_version},
                        {"model_path", m.model_path},
                        {"model_hash", m.model_hash},
                        {"tokenizer_hash", m.tokenizer_hash},
                        {"settings", settings},
                        {"prompt_tokens", m.queue},
                        {"token_limit", m.token_limit},
                        {"state",
                         {{"blocks", st.blocks},
                          {"ended", st.ended},
                          {"pending_bytes", st.pending.size()},
                          {"recent_events", encode_events(st.recent)}}},
                        {"blocks", blocks},
                        {"entities", entities},
                        {"timeline", timeline()}};
    const std::string s = j.dump(2) + "\n";
    if (a.out.empty()) {
      std::fwrite(s.data(), 1, s.size(), stdout);
    } else {
      write_file_atomic(a.out, s);
      std::fprintf(stderr, "memory export: %d blocks -> %s\n", st.blocks, a.out.c_str());
    }
  }
}

}  // namespace

void add_memory_command(CLI::App& app) {
  auto a = std::make_shared<MemoryArgs>();
  CLI::App* sub = app.add_subcommand("memory", "Inspect a generation session (read-only)");
  sub->add_option("what", a->what,
                  "entities | timeline | blocks | show (summary and text) | export (everything "
                  "as JSON)")
      ->required()
      ->check(CLI::IsMember({"entities", "timeline", "blocks", "show", "export"}));
  sub->add_option("--session", a->session, "Session directory")->required();
  sub->add_flag("--json", a->json, "JSON instead of a table");
  sub->add_option("-o,--out", a->out, "export: write to this file instead of stdout");
  sub->callback([a] { run_memory(*a); });
}

}  // namespace bs::cli
