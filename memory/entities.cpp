#include "memory/entities.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "core/error.h"
#include "text/sentences.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace bs {

namespace {

const std::set<std::string> kTitles = {
    "Mr.",   "Mrs.",    "Ms.",     "Dr.",    "St.",       "Miss",     "Lady",  "Lord",   "Sir",
    "Dame",  "Captain", "Colonel", "Major",  "General",   "King",     "Queen", "Prince", "Princess",
    "Uncle", "Aunt",    "Madam",   "Mister", "Professor", "Reverend", "Rev."};
const std::set<std::string> kParticles = {"de", "van", "von", "of", "du", "la", "le", "der", "da"};
// Capitalised by grammar, not names: pronouns, articles, conjunctions, common sentence openers,
// interjections, and the time words the timeline reads.
const std::set<std::string> kFunction = {
    "I",         "A",         "An",        "The",        "He",        "She",      "It",
    "They",      "We",        "You",       "His",        "Her",       "Its",      "Their",
    "Our",       "My",        "Your",      "This",       "That",      "These",    "Those",
    "There",     "Here",      "But",       "And",        "Or",        "Nor",      "For",
    "So",        "Yet",       "Then",      "When",       "While",     "Where",    "What",
    "Which",     "Who",       "Whom",      "Whose",      "Why",       "How",      "If",
    "As",        "At",        "In",        "On",         "Of",        "To",       "By",
    "With",      "From",      "Into",      "Upon",       "After",     "Before",   "Not",
    "No",        "Yes",       "Oh",        "O",          "Well",      "Now",      "Thus",
    "Though",    "Although",  "Let",       "Behold",     "Thou",      "Thee",     "Thy",
    "Ye",        "Unto",      "All",       "Every",      "Some",      "Any",      "Each",
    "Both",      "Such",      "One",       "Do",         "Did",       "Is",       "Was",
    "Are",       "Were",      "Be",        "Have",       "Had",       "Has",      "Will",
    "Would",     "Shall",     "Should",    "Can",        "Could",     "May",      "Might",
    "Must",      "Indeed",    "Perhaps",   "Even",       "Only",      "Still",    "Again",
    "Once",      "Never",     "Nothing",   "Everything", "Very",      "Dear",     "Pray",
    "Chapter",   "CHAPTER",   "Monday",    "Tuesday",    "Wednesday", "Thursday", "Friday",
    "Saturday",  "Sunday",    "January",   "February",   "March",     "April",    "June",
    "July",      "August",    "September", "October",    "November",  "December", "Later",
    "Soon",      "Meanwhile", "Suddenly",  "Afterwards", "Finally",   "However",  "Presently",
    "Certainly", "Surely",    "Many",      "Most",       "Several",   "Few",      "Other",
    "Another",   "Neither",   "Either",    "Whatever",   "Whenever",  "Since",    "Because",
    "Unless",    "Until",     "During",    "Without",    "Within",    "Among",    "Against",
    "Through",   "Over",      "Under",     "Between",    "Like",      "Just",     "Much",
    "More",      "Less",      "First",     "Last",       "Next"};

bool is_title(const std::string& w) { return kTitles.count(w) > 0; }

// One whitespace-separated word: its core (punctuation stripped) and whether punctuation after the
// core ends a name.
struct Word {
  size_t begin = 0, end = 0;  // core bytes in the sentence
  std::string core;
  bool breaks = false;
};

bool opening(unsigned char c) { return c == '"' || c == '\'' || c == '(' || c == '['; }
bool closing(unsigned char c) {
  return c == ',' || c == '.' || c == ';' || c == ':' || c == '!' || c == '?' || c == '"' ||
         c == '\'' || c == ')' || c == ']';
}
// UTF-8 curly quotes (U+2018, U+2019, U+201C, U+201D) at p, or 0.
size_t curly(std::string_view s, size_t p) {
  if (p + 3 <= s.size() && (unsigned char)s[p] == 0xE2 && (unsigned char)s[p + 1] == 0x80) {
    const unsigned char c = s[p + 2];
    if (c == 0x98 || c == 0x99 || c == 0x9C || c == 0x9D) return 3;
  }
  return 0;
}

std::vector<Word> split_words(std::string_view s) {
  std::vector<Word> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace((unsigned char)s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace((unsigned char)s[j])) ++j;
    if (j == i) break;
    size_t b = i, e = j;
    for (;;) {  // leading quotes and brackets
      if (b < e && opening((unsigned char)s[b]))
        ++b;
      else if (size_t n = curly(s, b); n && b + n <= e)
        b += n;
      else
        break;
    }
    bool breaks = false;
    for (;;) {  // trailing punctuation and quotes
      if (e > b && closing((unsigned char)s[e - 1])) {
        // Keep the period of a title abbreviation ("Mr.") as part of the word.
        if (s[e - 1] == '.' && is_title(std::string(s.substr(b, e - b)))) break;
        breaks = true;
        --e;
      } else if (e >= b + 3 && curly(s, e - 3)) {
        breaks = true;
        e -= 3;
      } else {
        break;
      }
    }
    // Possessive 's / ’s: the name is the word before it, and it ends there ("Darcy's friend").
    std::string core(s.substr(b, e - b));
    for (std::string_view suffix : {std::string_view("'s"), std::string_view("\xE2\x80\x99s")}) {
      if (core.size() > suffix.size() &&
          core.compare(core.size() - suffix.size(), suffix.size(), suffix) == 0) {
        core.resize(core.size() - suffix.size());
        e -= suffix.size();
        breaks = true;
      }
    }
    if (!core.empty()) out.push_back({b, e, core, breaks});
    i = j;
  }
  return out;
}

bool capitalised(const std::string& w) {
  if (w.empty() || !(w[0] >= 'A' && w[0] <= 'Z')) return false;
  for (unsigned char c : w)
    if (!(std::isalpha(c) || c == '-' || c == '\'' || c == '.' || c >= 0x80)) return false;
  return true;
}

bool name_word(const std::string& w) { return capitalised(w) && !kFunction.count(w); }

std::string truncate_utf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  return s.substr(0, utf8_floor(s, max)) + "...";
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace((unsigned char)s[b])) ++b;
  while (e > b && std::isspace((unsigned char)s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> core_words(const std::string& name) {
  std::vector<std::string> out;
  for (const Word& w : split_words(name))
    if (!is_title(w.core) && !kParticles.count(w.core)) out.push_back(w.core);
  return out;
}

}  // namespace

std::vector<NameSpan> find_names(std::string_view s,
                                 const std::function<bool(const std::string&)>& known) {
  std::vector<Word> w = split_words(s);
  std::vector<NameSpan> out;
  size_t i = 0;
  while (i < w.size()) {
    const bool title =
        is_title(w[i].core) && i + 1 < w.size() && name_word(w[i + 1].core) && !w[i].breaks;
    if (!title && !name_word(w[i].core)) {
      ++i;
      continue;
    }
    // Extend over capitalised words and particles between them.
    size_t j = i;
    while (!w[j].breaks && j + 1 < w.size()) {
      if (name_word(w[j + 1].core)) {
        ++j;
      } else if (kParticles.count(w[j + 1].core) && !w[j + 1].breaks && j + 2 < w.size() &&
                 name_word(w[j + 2].core)) {
        j += 2;
      } else {
        break;
      }
    }
    // Sentence-initial: capitalised by grammar unless a title, a known name, or a longer name.
    const bool initial = i == 0;
    if (initial && !title && j == i && !known(w[i].core)) {
      i = j + 1;
      continue;
    }
    NameSpan n{w[i].begin, w[j].end, std::string(s.substr(w[i].begin, w[j].end - w[i].begin))};
    out.push_back(std::move(n));
    i = j + 1;
  }
  return out;
}

std::vector<std::string> find_times(std::string_view sentence) {
  static const std::regex re(
      R"(\b(?:(?:1[0-9]{3}|20[0-9]{2})\b)"
      R"(|(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+[0-9]{1,2}(?:st|nd|rd|th)?\b)"
      R"(|[0-9]{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:January|February|March|April|May|June|July|August|September|October|November|December)\b)"
      R"(|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b)"
      R"(|the\s+(?:next|following|previous|same)\s+(?:day|morning|afternoon|evening|night|week|month|year|spring|summer|autumn|winter)\b)"
      R"(|the\s+day\s+(?:after|before)\b)"
      R"(|(?:yesterday|to-?morrow|to-?day|to-?night)\b)"
      R"(|that\s+(?:morning|afternoon|evening|night|day)\b)"
      R"(|(?:a|one|two|three|four|five|six|seven|eight|nine|ten|many|several|some|[0-9]+)\s+(?:days?|weeks?|months?|years?)\s+(?:later|after|before|ago)\b)"
      R"(|at\s+(?:dawn|noon|midnight|sunrise|sunset)\b))",
      std::regex::icase | std::regex::optimize);
  std::vector<std::string> out;
  const std::string s(sentence);
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(it->str());
  return out;
}

bool is_chapter_marker(std::string_view sentence) {
  static const std::regex re(
      R"(^\s*(?:CHAPTER|Chapter|BOOK|Book|PART|Part)\s+(?:[0-9]+|[IVXLCivxlc]+)\b)");
  const std::string s(sentence);
  return std::regex_search(s, re);
}

void EntityTracker::declare(const std::string& name, const std::string& kind,
                            const std::vector<std::string>& aliases) {
  const std::string n = trim(name);
  if (n.empty()) throw Error("plan", "an entity has an empty name");
  int id = find(n);
  if (id < 0) {
    id = int(entities_.size());
    Entity e;
    e.id = id;
    e.name = n;
    entities_.push_back(e);
    index(n, id);
  }
  Entity& e = entities_[id];
  e.kind = kind;
  e.declared = true;
  for (const std::string& a : aliases) {
    const std::string t = trim(a);
    if (t.empty() || by_name_.count(t)) continue;
    e.aliases.push_back(t);
    index(t, id);
  }
}

void EntityTracker::add_fact(const std::string& text) {
  Event ev;
  ev.block = -1;
  ev.sentence = trim(text);
  if (ev.sentence.empty()) throw Error("plan", "a fact is empty");
  facts_.push_back(ev);
}

void EntityTracker::index(const std::string& form, int id) {
  by_name_[form] = id;
  for (const std::string& w : core_words(form)) {
    std::vector<int>& ids = by_word_[w];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
}

int EntityTracker::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

int EntityTracker::resolve(const std::string& name, int block) {
  if (int id = find(name); id >= 0) return id;
  const std::vector<std::string> words = core_words(name);
  const bool single = words.size() == 1 && split_words(name).size() == 1;
  int best = -1;
  if (single) {
    // "Darcy" of "Mr. Darcy": the most recently mentioned entity with that word (ties: the
    // older entity).
    auto it = by_word_.find(words[0]);
    if (it != by_word_.end())
      for (int id : it->second) {
        const Entity& e = entities_[id];
        if (best < 0 || e.last_block > entities_[best].last_block ||
            (e.last_block == entities_[best].last_block && id < best))
          best = id;
      }
  } else {
    // "Mr. Darcy" when "Darcy" is known alone: the same person, under the longer name.
    for (const std::string& w : words) {
      int id = find(w);
      if (id >= 0 && entities_[id].name.find(' ') == std::string::npos) {
        best = id;
        break;
      }
    }
    if (best >= 0 && !entities_[best].declared) {
      Entity& e = entities_[best];
      e.aliases.push_back(e.name);
      e.name = name;
      index(name, best);
      (void)block;
      return best;
    }
  }
  if (best >= 0) {
    entities_[best].aliases.push_back(name);
    index(name, best);
    return best;
  }
  Entity e;
  e.id = int(entities_.size());
  e.name = name;
  entities_.push_back(e);
  index(name, e.id);
  return e.id;
}

void EntityTracker::mention(int id, int block, const std::string& sentence) {
  Entity& e = entities_[id];
  ++e.mentions;
  if (e.first_block < 0) e.first_block = block;
  e.last_block = block;
  e.latest.push_back(truncate_utf8(sentence, 240));
  if (e.latest.size() > 3) e.latest.erase(e.latest.begin());
}

std::vector<int> EntityTracker::observe(int block, std::string_view text, bool final,
                                        std::vector<Event>& events) {
  std::string buf = carry_ + std::string(text);
  std::vector<SentenceSpan> spans = sentence_spans(buf, "block text");
  size_t complete = spans.size();
  if (!final && complete > 0) --complete;  // the last one may continue in the next block
  std::set<int> changed;
  // Known: a name or alias, or one word of one ("Elizabeth" once "Elizabeth Bennet" is known).
  auto known = [&](const std::string& w) { return find(w) >= 0 || by_word_.count(w) > 0; };
  for (size_t k = 0; k < complete; ++k) {
    const std::string s =
        trim(std::string_view(buf).substr(spans[k].begin, spans[k].end - spans[k].begin));
    if (s.empty()) continue;
    Event ev;
    ev.block = block;
    ev.sentence = truncate_utf8(s, 300);
    for (const NameSpan& n : find_names(s, known)) {
      const int id = resolve(n.text, block);
      if (std::find(ev.entities.begin(), ev.entities.end(), id) != ev.entities.end()) continue;
      ev.entities.push_back(id);
      mention(id, block, s);
      changed.insert(id);
    }
    ev.times = find_times(s);
    ev.chapter = is_chapter_marker(s);
    if (!ev.entities.empty() || !ev.times.empty() || ev.chapter) events.push_back(std::move(ev));
  }
  carry_ = complete < spans.size() ? buf.substr(spans[complete].begin) : std::string();
  if (carry_.size() > 4096) carry_.erase(0, carry_.size() - 4096);  // a runaway "sentence"
  // Keep the carry valid UTF-8 after the cut above.
  carry_.erase(0, utf8_ceil(carry_, 0));
  return {changed.begin(), changed.end()};
}

void EntityTracker::restore(std::vector<Entity> entities, std::vector<Event> facts,
                            std::string carry) {
  for (size_t i = 0; i < entities.size(); ++i)
    if (entities[i].id != int(i)) throw Error("entities", "ids are not consecutive");
  entities_ = std::move(entities);
  by_name_.clear();
  by_word_.clear();
  for (const Entity& e : entities_) {
    index(e.name, e.id);
    for (const auto& a : e.aliases) index(a, e.id);
  }
  facts_ = std::move(facts);
  carry_ = std::move(carry);
}

std::vector<int> EntityTracker::header(const Tokenizer& tok, int max_tokens,
                                       const std::vector<Event>& recent) const {
  std::vector<int> out;
  if (max_tokens < 3) return out;
  out.push_back(Tokenizer::kHeaderBegin);
  const int budget = max_tokens - 1;  // room for </hdr>
  auto add = [&](int marker, const std::string& text, int cap) {
    std::vector<int> ids = tok.encode(text, "header");
    if (int(ids.size()) > cap) ids.resize(size_t(cap));
    if (int(out.size()) + 1 + int(ids.size()) > budget) return false;
    out.push_back(marker);
    out.insert(out.end(), ids.begin(), ids.end());
    return true;
  };
  for (const Event& f : facts_)
    if (!add(Tokenizer::kEvent, f.sentence, 24)) break;
  // Entities by recency of mention, then mentions; declared ones count as mentioned at -1.
  std::vector<const Entity*> es;
  for (const Entity& e : entities_)
    if (e.mentions > 0 || e.declared) es.push_back(&e);
  std::stable_sort(es.begin(), es.end(), [](const Entity* a, const Entity* b) {
    if (a->last_block != b->last_block) return a->last_block > b->last_block;
    return a->mentions > b->mentions;
  });
  int shown = 0;
  for (const Entity* e : es) {
    if (shown == 4) break;
    std::string line = e->name;
    if (!e->latest.empty()) line += ": " + e->latest.back();
    if (add(Tokenizer::kEntity, line, 20)) ++shown;
  }
  for (auto it = recent.rbegin(); it != recent.rend() && it - recent.rbegin() < 2; ++it)
    if (!add(Tokenizer::kEvent, it->sentence, 24)) break;
  out.push_back(Tokenizer::kHeaderEnd);
  return out;
}

std::vector<int> DocumentMemory::read(int block, std::string_view text, bool final,
                                      std::vector<Event>& events) {
  std::vector<int> changed = tracker.observe(block, text, final, events);
  recent.insert(recent.end(), events.begin(), events.end());
  if (recent.size() > 8) recent.erase(recent.begin(), recent.end() - 8);
  return changed;
}

}  // namespace bs
