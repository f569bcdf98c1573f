// Entities and timeline extracted from committed text (docs/SESSIONS.md §Entities).
//
// Names: maximal runs of capitalised words in a sentence, joined by name particles ("de", "van",
// "of", ...) and opened by titles ("Mr.", "Lady", "Colonel", ...): "Mr. Darcy", "Lady Catherine
// de Bourgh". A sentence's first word is capitalised by grammar, so it starts a name only when it
// is a title, an entity already known, or followed by another capitalised word that is not a
// function word. Aliases: a one-word name equal to a word of a known longer name ("Darcy" of
// "Mr. Darcy", "Catherine" of "Lady Catherine de Bourgh") is that entity (the most recently
// mentioned one when several share the word); a longer name containing a known one-word entity
// becomes that entity's name. Declared entities (a plan file) are known from the start.
//
// Timeline: every complete sentence that mentions an entity, holds a time expression (a year, a
// date, a weekday, "the next day", "three weeks later", ...) or is a chapter marker is an event of
// the block it was completed in. A sentence cut by a block boundary is processed when it is
// complete (the unfinished tail is carried to the next block).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bs {

class Tokenizer;

struct Entity {
  int id = 0;
  std::string name;                  // display name (the longest form seen or the declared one)
  std::string kind = "name";         // "character" | "place" | "name" (found, kind unknown)
  std::vector<std::string> aliases;  // other forms that refer to it
  int first_block = -1, last_block = -1;  // -1: declared, not yet mentioned
  int mentions = 0;
  std::vector<std::string> latest;  // up to 3 latest sentences mentioning it, oldest first
  bool declared = false;
};

struct Event {
  int block = 0;
  std::string sentence;
  std::vector<int> entities;       // ids mentioned
  std::vector<std::string> times;  // time expressions found
  bool chapter = false;            // a chapter marker
};

// Name spans in one sentence (byte ranges into it), following the rules above. known(name)
// tells whether a one-word name is a known entity (for sentence-initial words).
struct NameSpan {
  size_t begin = 0, end = 0;
  std::string text;
};
std::vector<NameSpan> find_names(std::string_view sentence,
                                 const std::function<bool(const std::string&)>& known);

// Time expressions in a sentence, in order; and whether it is a chapter marker.
std::vector<std::string> find_times(std::string_view sentence);
bool is_chapter_marker(std::string_view sentence);

class EntityTracker {
 public:
  // A plan file's declaration. Throws bs::Error for an empty name.
  void declare(const std::string& name, const std::string& kind,
               const std::vector<std::string>& aliases);
  // A declared fact: becomes an event of block -1, shown in the header.
  void add_fact(const std::string& text);

  // Reads the text one block adds to the document. Complete sentences update entities and give
  // events; the unfinished tail is kept for the next call (or flushed when final).
  // Returns the ids of entities that changed.
  std::vector<int> observe(int block, std::string_view text, bool final,
                           std::vector<Event>& events);

  const std::vector<Entity>& entities() const { return entities_; }
  const std::vector<Event>& facts() const { return facts_; }
  const std::string& carry() const { return carry_; }

  // Restores the tracker from stored entities (ids 0, 1, ... in order), facts and carry (the
  // codec in memory/codec.h reads them). Throws bs::Error("entities", ...) when ids are not
  // consecutive.
  void restore(std::vector<Entity> entities, std::vector<Event> facts, std::string carry);

  // The header E: <hdr> then the most relevant entities (<ent> name: latest sentence) and the
  // latest events (<evt> sentence), </hdr>, cut to at most max_tokens tokens (0 = none).
  std::vector<int> header(const Tokenizer& tok, int max_tokens,
                          const std::vector<Event>& recent) const;

 private:
  int find(const std::string& name) const;  // entity id by name or alias, -1 if none
  int resolve(const std::string& name, int block);
  void mention(int id, int block, const std::string& sentence);
  std::vector<Entity> entities_;
  std::vector<Event> facts_;
  void index(const std::string& form, int id);       // a name or alias of entity id
  std::map<std::string, int> by_name_;               // name and aliases -> id
  std::map<std::string, std::vector<int>> by_word_;  // each word of them -> ids
  std::string carry_;
};

// The per-document loop that generation and training share, so a model is trained on exactly the
// headers it will be given: header() before a block, read() the block's text after it commits.
struct DocumentMemory {
  EntityTracker tracker;
  std::vector<Event> recent;  // the latest events (at most 8), newest last

  std::vector<int> header(const Tokenizer& tok, int max_tokens) const {
    return tracker.header(tok, max_tokens, recent);
  }
  // Returns the ids of changed entities; events receives the block's events.
  std::vector<int> read(int block, std::string_view text, bool final, std::vector<Event>& events);
};

}  // namespace bs
