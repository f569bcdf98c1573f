#include "corpus/clean.h"

#include <algorithm>
#include <vector>

namespace bs {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Collapses whitespace runs to one space and trims.
std::string squeeze(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (is_space(c)) {
      space = !out.empty();
    } else {
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  return out;
}

struct Line {
  int indent = 0;            // columns of leading whitespace (tabs to multiples of 8)
  std::string_view content;  // trimmed
  bool blank() const { return content.empty(); }
};

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    Line l;
    size_t k = 0;
    for (; k < raw.size() && (raw[k] == ' ' || raw[k] == '\t'); ++k)
      l.indent = raw[k] == '\t' ? (l.indent / 8 + 1) * 8 : l.indent + 1;
    l.content = trim(raw.substr(k));
    lines.push_back(l);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return lines;
}

// "=====", "-----", "~~~~" ...: a section over/underline or a transition.
bool is_adornment(std::string_view c) {
  static constexpr std::string_view kChars = "=-~^*#\"'`:+_.<>";
  if (c.size() < 3 || kChars.find(c[0]) == std::string_view::npos) return false;
  return std::all_of(c.begin(), c.end(), [&](char x) { return x == c[0]; });
}

// "=====  =======  ====": a simple-table border (at least two columns; tabs occur too).
bool is_table_border(std::string_view c) {
  if (c.empty() || c[0] != '=') return false;
  int runs = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i] == '=') {
      if (i == 0 || c[i - 1] == ' ' || c[i - 1] == '\t') ++runs;
    } else if (c[i] != ' ' && c[i] != '\t') {  // columns are separated by spaces or tabs
      return false;
    }
  }
  return runs >= 2;
}

bool is_grid_border(std::string_view c) {
  return c.size() >= 3 && c[0] == '+' && (c[1] == '-' || c[1] == '=') && c.back() == '+';
}

// ":Author: x", ":Date:": a field list line (document metadata, directive options).
bool is_field(std::string_view c) {
  if (c.size() < 3 || c[0] != ':') return false;
  size_t end = c.find(':', 1);
  if (end == std::string_view::npos || end == 1) return false;
  for (size_t i = 1; i < end; ++i)
    if (c[i] == '`') return false;
  return end + 1 == c.size() || c[end + 1] == ' ';
}

// Width of a list marker at the start of c ("- ", "* ", "1. ", "#. ", "(a) ", "2) "), or 0.
size_t list_marker(std::string_view c) {
  if (c.size() >= 2 && (c[0] == '-' || c[0] == '*' || c[0] == '+') && c[1] == ' ') return 2;
  size_t i = 0;
  if (i < c.size() && c[i] == '(') ++i;
  size_t digits = i;
  while (i < c.size() && c[i] >= '0' && c[i] <= '9' && i - digits < 3) ++i;
  if (i == digits) {
    if (i < c.size() && (c[i] == '#' || (c[i] >= 'a' && c[i] <= 'z')))
      ++i;
    else
      return 0;
  }
  if (i < c.size() && (c[i] == '.' || c[i] == ')') && i + 1 < c.size() && c[i + 1] == ' ') {
    return i + 2;
  }
  return 0;
}

bool is_admonition(std::string_view name) {
  static constexpr std::string_view kNames[] = {"note",   "warning", "attention", "caution",
                                                "danger", "error",   "hint",      "important",
                                                "tip",    "seealso", "admonition"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// A line that looks like C, shell or a register dump rather than prose.
bool code_like(std::string_view c) {
  if (c.empty()) return false;
  char last = c.back();
  if (last == ';' || last == '{' || last == '}' || last == '\\') return true;
  if (c[0] == '#' || c[0] == '$' || c[0] == '}' || c.substr(0, 2) == "//" ||
      c.substr(0, 2) == "/*") {
    return true;
  }
  return c.find("->") != std::string_view::npos || c.find("();") != std::string_view::npos;
}

}  // namespace

std::string clean_rst_inline(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  auto boundary_before = [&](size_t k) {  // start of text or a non-word char before s[k]
    return k == 0 || !(is_alnum(s[k - 1]) || s[k - 1] == '_');
  };
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {  // escape: "\ " vanishes, "\*" is a literal *
      if (s[i + 1] != ' ') out.push_back(s[i + 1]);
      i += 2;
      continue;
    }
    if (c == '`' && s.substr(i, 2) == "``") {  // ``literal``
      size_t close = s.find("``", i + 2);
      if (close != std::string_view::npos && close > i + 2) {
        out.append(s.substr(i + 2, close - i - 2));
        i = close + 2;
        continue;
      }
    }
    if (c == '`') {  // `text`, `text <url>`_, :role:`text`, :role:`title <target>`
      size_t close = s.find('`', i + 1);
      if (close != std::string_view::npos && close > i + 1) {
        // Drop a role just before the backtick (":c:func:", ":ref:").
        if (!out.empty() && out.back() == ':') {
          size_t k = out.size() - 1;
          int colons = 1;
          while (k > 0 && (is_alnum(out[k - 1]) || out[k - 1] == '_' || out[k - 1] == '-' ||
                           out[k - 1] == '.' || out[k - 1] == '+' || out[k - 1] == ':')) {
            if (out[k - 1] == ':') ++colons;
            --k;
          }
          if (colons >= 2 && out[k] == ':') out.resize(k);
        }
        std::string_view inner = trim(s.substr(i + 1, close - i - 1));
        if (inner.size() > 2 && inner.back() == '>') {
          size_t lt = inner.rfind('<');
          if (lt != std::string_view::npos) {
            std::string_view title = trim(inner.substr(0, lt));
            inner = title.empty() ? inner.substr(lt + 1, inner.size() - lt - 2) : title;
          }
        }
        if (!inner.empty() && (inner[0] == '~' || inner[0] == '!')) inner.remove_prefix(1);
        out.append(inner);
        i = close + 1;
        while (i < s.size() && s[i] == '_') ++i;  // `link`_ and anonymous `link`__
        continue;
      }
    }
    if (c == '*' && boundary_before(i)) {  // **strong**, *emphasis*
      size_t w = s.substr(i, 2) == "**" ? 2 : 1;
      size_t close = s.find(std::string_view("**", w), i + w);
      if (close != std::string_view::npos && close > i + w && !is_space(s[i + w]) &&
          !is_space(s[close - 1]) &&
          (close + w >= s.size() || !(is_alnum(s[close + w]) || s[close + w] == '_'))) {
        out.append(s.substr(i + w, close - i - w));
        i = close + w;
        continue;
      }
    }
    if (c == '|' && boundary_before(i) && i + 1 < s.size() && !is_space(s[i + 1])) {  // |name|
      size_t close = s.find('|', i + 1);
      if (close != std::string_view::npos && !is_space(s[close - 1]) &&
          (close + 1 >= s.size() || !is_alnum(s[close + 1]))) {
        out.append(s.substr(i + 1, close - i - 1));
        i = close + 1;
        while (i < s.size() && s[i] == '_') ++i;
        continue;
      }
    }
    if (c == '[') {  // footnote / citation reference [1]_ [#]_ [#note]_ [CIT2002]_
      size_t close = s.find(']', i + 1);
      if (close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == '_' &&
          close > i + 1 && std::all_of(s.begin() + i + 1, s.begin() + close, [](char x) {
            return is_alnum(x) || x == '#' || x == '_' || x == '-';
          })) {
        while (!out.empty() && out.back() == ' ') out.pop_back();
        i = close + 2;
        continue;
      }
    }
    out.push_back(c);
    ++i;
  }
  return squeeze(out);
}

std::string clean_rst(std::string_view rst) {
  std::string norm = normalize_newlines(rst);
  std::vector<Line> lines = split_lines(norm);
  std::string out;
  std::vector<std::string_view> para;  // lines of the paragraph being collected
  int para_indent = -1;                // indent continuation lines must have (-1: any)
  int last_text = 0;                   // text indent of the paragraph's last line
  bool para_code = true;               // every line so far looks like code
  int para_first_indent = 0;
  int literal_base = -1;  // a "::" paragraph ended: lines indented deeper are a literal block

  auto flush = [&] {
    if (para.empty()) return;
    bool drop = para_code && para_first_indent > 0;  // an indented code example without "::"
    if (!drop) {
      std::string joined;
      for (auto l : para) {
        if (!joined.empty()) joined.push_back(' ');
        joined.append(l);
      }
      std::string p = clean_rst_inline(joined);
      if (!p.empty()) {
        if (!out.empty()) out.push_back('\n');
        out += p;
      }
    }
    para.clear();
    para_indent = -1;
    para_code = true;
  };
  // Skips lines after i that are blank or indented deeper than base; returns the next line.
  auto skip_block = [&](size_t i, int base) {
    size_t j = i + 1;
    while (j < lines.size() && (lines[j].blank() || lines[j].indent > base)) ++j;
    return j;
  };

  size_t i = 0;
  while (i < lines.size()) {
    const Line& l = lines[i];
    std::string_view c = l.content;
    if (l.blank()) {
      flush();
      ++i;
      continue;
    }
    if (literal_base >= 0) {
      int base = literal_base;
      literal_base = -1;
      if (l.indent > base) {
        flush();
        i = skip_block(i, base);
        continue;
      }
    }
    if (c == ".." || c.substr(0, 3) == ".. ") {  // explicit markup
      flush();
      std::string_view rest = trim(c.substr(2));
      size_t dc = rest.find("::");
      std::string_view name = dc == std::string_view::npos ? "" : rest.substr(0, dc);
      bool directive = !name.empty() && std::all_of(name.begin(), name.end(), [](char x) {
        return is_alnum(x) || x == '-' || x == '_' || x == ':' || x == '.' || x == '+';
      });
      if (directive && is_admonition(name)) {
        // Keep the prose: the argument starts a paragraph, the indented body follows as text.
        std::string_view arg = trim(rest.substr(dc + 2));
        if (!arg.empty()) {
          para.push_back(arg);
          para_code = false;
          para_first_indent = 0;
        }
        ++i;
        continue;
      }
      i = skip_block(i, l.indent);  // other directives, comments, targets, footnotes, |subst|
      continue;
    }
    if (is_adornment(c)) {  // the title above it (if any) becomes its own paragraph
      flush();
      ++i;
      continue;
    }
    if (is_table_border(c)) {  // simple table: ends at a border followed by a blank line
      flush();
      size_t j = i + 1;
      while (j < lines.size()) {
        bool border = is_table_border(lines[j].content);
        ++j;
        if (border && (j == lines.size() || lines[j].blank())) break;
      }
      i = j;
      continue;
    }
    if (is_grid_border(c)) {
      flush();
      size_t j = i + 1;
      while (j < lines.size() && !lines[j].blank() &&
             (lines[j].content[0] == '+' || lines[j].content[0] == '|'))
        ++j;
      i = j;
      continue;
    }
    if (is_field(c)) {
      flush();
      i = skip_block(i, l.indent);
      continue;
    }
    if (c.size() >= 2 && c[0] == '|' && c[1] == ' ') c.remove_prefix(2);  // line block
    size_t marker = list_marker(c);
    int text_indent = l.indent + int(marker);
    if (!para.empty() && (marker > 0 || (para_indent >= 0 && l.indent != para_indent))) flush();
    if (para.empty()) {
      para_indent = text_indent;
      para_first_indent = l.indent;
    }
    last_text = para.empty() ? text_indent : l.indent;
    // "text::" ends with a literal block; "::" alone or " ::" vanish, "x::" becomes "x:".
    bool literal = c.size() >= 2 && c.substr(c.size() - 2) == "::";
    if (literal) {
      c.remove_suffix(1);
      if (c == ":" || (c.size() >= 2 && c[c.size() - 2] == ' '))
        c = trim(c.substr(0, c.size() - 1));
    }
    para_code = para_code && code_like(c);
    if (!c.empty()) para.push_back(c);
    ++i;
    if (literal) {
      flush();
      literal_base = last_text;
    }
  }
  flush();
  return out;
}

size_t count_words(std::string_view text) {
  size_t n = 0;
  bool in = false;
  for (char c : text) {
    bool sp = is_space(c);
    if (!sp && !in) ++n;
    in = !sp;
  }
  return n;
}

std::string normalize_newlines(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace bs
