#!/usr/bin/env Rscript
# Jane Austen's six novels (R package janeaustenr) as JSON lines, one document per chapter:
#   {"id":"austen/pride-and-prejudice/01","text":"..."}
# Text layout: the lines of a paragraph joined by one space, paragraphs separated by "\n".
# Dropped: front matter before the first chapter, VOLUME headings, chapter headings, the closing
# "THE END"/"FINIS" and the editor's note after Northanger Abbey; _emphasis_ loses its underscores.
# Run by `blockscribe corpus prepare --source stories`; usable by hand: Rscript austen.R > a.jsonl
if (!requireNamespace("janeaustenr", quietly = TRUE)) {
  message("R package janeaustenr missing: install r-cran-janeaustenr (scripts/setup.sh does)")
  quit(status = 3)
}
books <- janeaustenr::austen_books()
slug <- function(x) gsub("[^a-z]+", "-", tolower(gsub("&", "and", x, fixed = TRUE)))
json_string <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
out <- character(0)
for (book in levels(books$book)) {
  lines <- enc2utf8(as.character(books$text[books$book == book]))
  end <- grep("^(THE END|FINIS|Finis|A NOTE ON THE TEXT)\\s*$", lines)
  if (length(end) > 0) lines <- lines[seq_len(end[1] - 1)]
  heads <- grep("^(CHAPTER|Chapter) +([0-9]+|[IVXLC]+)\\.?\\s*$", lines)
  if (length(heads) == 0) stop("no chapter headings in ", book)
  for (k in seq_along(heads)) {
    last <- if (k < length(heads)) heads[k + 1] - 1 else length(lines)
    body <- trimws(lines[(heads[k] + 1):last])
    body <- body[!grepl("^VOLUME [IVX]+$", body)]
    keep <- body != ""
    para <- cumsum(!keep)  # a paragraph = a run of non-empty lines
    paras <- vapply(split(body[keep], para[keep]), paste, "", collapse = " ")
    paras <- gsub(" {2,}", " ", paras)
    paras <- gsub("(^|[^A-Za-z0-9])_([^_]+)_", "\\1\\2", paras)
    if (length(paras) == 0) next
    id <- sprintf("austen/%s/%02d", slug(book), k)
    out <- c(out, paste0("{\"id\":", json_string(id), ",\"text\":",
                         json_string(paste(paras, collapse = "\n")), "}"))
  }
}
writeLines(out, con = stdout(), useBytes = TRUE)
