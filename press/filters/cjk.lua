-- Korean, Japanese and Chinese text, as their typesetters set it (klreq, jlreq, clreq).
--
-- `cjk-whole-words` (comma-separated tags): Korean breaks lines between words, never inside one
-- (CSS `word-break: keep-all`, which WeasyPrint ignores). Inside each word (a run of inlines
-- between spaces) that holds Hangul, a WORD JOINER (U+2060) goes between two characters, or two
-- inlines, where either side is Hangul. WeasyPrint draws no glyph for it, so the PDF's text
-- stays as typed; a span per word styled `white-space: nowrap` did the same at three times the
-- rendering time and 1.7× the file size (one text object per word). Latin words inside stay
-- breakable (hyphenation). In headings, whose text is also the PDF bookmark, each word is a
-- Span of class `kw` (styled `white-space: nowrap`) instead.
--
-- `cjk-latin-gap` (tags): a quarter-em between ideographs or kana and Latin letters or digits.
-- The Latin run gets a Span of class `lg-s`, `lg-e` or `lg-se` (the side(s) that touch CJK),
-- styled with a margin: no character is added, so the text layer stays as typed.
--
-- `cjk-halt` (tags): of two adjacent full-width punctuation marks (。」 、「 」（ 「『), one loses
-- its blank half (jlreq 3.1.4, clreq): the first if it is a closing mark, comma or stop, else the
-- second. The mark gets a Span of class `halt` (the font's OpenType `halt` feature); the
-- installed Noto CJK 2.001 has no `chws`, which would do this itself.
--
-- The chapter's language is `cjk-lang`; a level-1 heading, Span or Div with a `lang` attribute
-- switches it for its content. Code is never touched.
package.path = PANDOC_SCRIPT_FILE:match("^(.*[/\\])") .. "?.lua;" .. package.path
local chapters = require "chapters"
local whole, gap, halt = {}, {}, {}
local latin_lang = nil      -- `cjk-latin-words`: the hyphenation language of Latin words in Korean
local no_hyphen = 0         -- inside a `nohyphen` span (names.lua): never hyphenate there
local CLOSING = {}
for _, c in utf8.codes("、。，．」』）〕］｝〉》】〙〗”’") do CLOSING[c] = true end
local OPENING = {}
for _, c in utf8.codes("「『（〔［｛〈《【〘〖“‘") do OPENING[c] = true end
local heading = false     -- inside a heading: words become spans (`kw`, white-space: nowrap)

local function hangul(c)
  return (c >= 0xAC00 and c <= 0xD7A3) or (c >= 0x1100 and c <= 0x11FF) or (c >= 0x3130 and c <= 0x318F)
end

local function ideograph(c)          -- Han and kana, not CJK punctuation
  return (c >= 0x3040 and c <= 0x30FF and c ~= 0x30FB) or (c >= 0x3400 and c <= 0x4DBF)
      or (c >= 0x4E00 and c <= 0x9FFF) or (c >= 0xF900 and c <= 0xFAFF) or (c >= 0x20000 and c <= 0x3FFFF)
end

local function alnum(c)              -- Latin letters and digits
  return (c >= 0x30 and c <= 0x39) or (c >= 0x41 and c <= 0x5A) or (c >= 0x61 and c <= 0x7A)
      or (c >= 0xC0 and c <= 0x24F and c ~= 0xD7 and c ~= 0xF7)
end

local function western(c)            -- may sit inside a Latin run: GPT-4o, 5.1, A/B, 10:30
  return alnum(c) or (c > 0x20 and c < 0x7F and not string.char(c):match("[%(%)%[%]{}\"']"))
end

local function has_hangul(s)
  if not s:find("[\xE1\xE3\xEA-\xED]") then return false end     -- lead bytes of the Hangul blocks
  for _, c in utf8.codes(s) do
    if hangul(c) then return true end
  end
  return false
end

-- Inlines ----------------------------------------------------------------------------------

local process, walk_blocks

local function is_break(el)
  return el.t == "Space" or el.t == "SoftBreak" or el.t == "LineBreak"
end

local function is_note(el)
  return el.t == "Note" or (el.t == "Span" and el.classes:includes("footnote"))
end

-- The language an element switches to, or nil.
local function lang_of(el)
  return el.attr and el.attributes and el.attributes.lang or nil
end

-- Whether a run of inlines holds Hangul, notes and other languages at its top level aside: what
-- pandoc.utils.stringify would give (which skips only Note elements inside), found in Lua, since a
-- stringify costs a trip through pandoc for every word.
local function text_has_hangul(els, top)
  for _, el in ipairs(els) do
    if el.t == "Str" or el.t == "Code" or el.t == "Math" then
      if has_hangul(el.text) then return true end
    elseif el.t ~= "Note" and not (top and (is_note(el) or lang_of(el))) then
      local inner = el.t == "Image" and el.caption or el.content
      if inner and text_has_hangul(inner, false) then return true end
    end
  end
  return false
end

-- Go into an element: its content in its own language.
local function descend(el, lang)
  if el.t == "Code" or el.t == "Math" or el.t == "RawInline" then return el end
  if el.t == "Note" then
    el.content = walk_blocks(el.content, lang)
    return el
  end
  local own = lang_of(el) or lang
  local names = el.t == "Span" and el.classes:includes("nohyphen")
  if names then no_hyphen = no_hyphen + 1 end
  if el.content and el.t ~= "Image" then
    el.content = process(el.content, own)
  end
  if names then no_hyphen = no_hyphen - 1 end
  return el
end

-- Split a Str at the edges between CJK and Latin runs (ja, zh).
local function gap_str(s, lang)
  local halt_here = halt[lang]
  local cps = {}
  for _, c in utf8.codes(s) do cps[#cps + 1] = c end
  local out, i, n, plain = pandoc.List(), 1, #cps, {}
  local function flush_plain()
    if #plain > 0 then out:insert(pandoc.Str(utf8.char(table.unpack(plain)))); plain = {} end
  end
  while i <= n do
    local c = cps[i]
    if western(c) and gap[lang] then
      local j = i
      while j < n and western(cps[j + 1]) do j = j + 1 end
      local before = i > 1 and ideograph(cps[i - 1]) and alnum(cps[i])
      local after = j < n and ideograph(cps[j + 1]) and alnum(cps[j])
      local run = utf8.char(table.unpack(cps, i, j))
      if before or after then
        flush_plain()
        local cls = before and after and "lg-se" or (before and "lg-s" or "lg-e")
        out:insert(pandoc.Span({pandoc.Str(run)}, {class = cls}))
      else
        for k = i, j do plain[#plain + 1] = cps[k] end
      end
      i = j + 1
    elseif halt_here and ((CLOSING[c] and (CLOSING[cps[i + 1]] or OPENING[cps[i + 1]]))
        or (OPENING[c] and i > 1 and OPENING[cps[i - 1]])) then
      flush_plain()
      out:insert(pandoc.Span({pandoc.Str(utf8.char(c))}, {class = "halt"}))
      i = i + 1
    else
      plain[#plain + 1] = c
      i = i + 1
    end
  end
  flush_plain()
  return out
end

local WJ = "\u{2060}"
local DASH = {[0x2013] = true, [0x2014] = true, [0x2015] = true}

local MIN_LATIN = 6          -- letters: shorter Latin words are not worth a hyphen

local function latin(c)
  return (c >= 0x41 and c <= 0x5A) or (c >= 0x61 and c <= 0x7A)
      or (c >= 0xC0 and c <= 0x24F and c ~= 0xD7 and c ~= 0xF7)
end

-- A Korean word as inlines: WORD JOINERs where a line must not break, and its long Latin
-- words (`cjk-latin-words`) in a Span with that language, so that they may hyphenate.
local function join_str(s)
  local cps = {}
  for _, c in utf8.codes(s) do cps[#cps + 1] = c end
  -- after a dash, a particle closing the aside (…나무—를) stays with it: 1–2 syllables, then the word ends
  local function particle_at(i)
    local n = 0
    while cps[i + n] and hangul(cps[i + n]) do n = n + 1 end
    return n > 0 and n <= 2
  end
  local out, buf = pandoc.List(), {}
  local function flush()
    if #buf > 0 then out:insert(pandoc.Str(table.concat(buf))); buf = {} end
  end
  local i = 1
  while i <= #cps do
    local c, prev = cps[i], cps[i - 1]
    -- a gloss in brackets, 나무(tree)를, may go to the next line, and a line may end after
    -- a dash, 나무다—그리고 (UAX #14 allows both): as one unbreakable word they left wide gaps
    local breakable = c == 0x28 or c == 0x5B or (prev and DASH[prev] and not particle_at(i))
    if prev and (hangul(prev) or hangul(c)) and not breakable then buf[#buf + 1] = WJ end
    local j = i
    while cps[j] and latin(cps[j]) do j = j + 1 end
    if latin_lang and no_hyphen == 0 and j - i >= MIN_LATIN then
      flush()
      out:insert(pandoc.Span({pandoc.Str(utf8.char(table.unpack(cps, i, j - 1)))},
                             {class = "lw", lang = latin_lang}))
      i = j
    else
      buf[#buf + 1] = utf8.char(c)
      i = i + 1
    end
  end
  flush()
  return out
end

-- One list of inlines in language `lang`.
process = function(inlines, lang)
  local out, run = pandoc.List(), pandoc.List()
  local function flush()
    if #run == 0 then return end
    local keep = whole[lang] and text_has_hangul(run, true)
    if keep and heading then      -- a heading's text is also its bookmark: no joiners there
      out:insert(pandoc.Span(run:map(function(el) return descend(el, lang) end), {class = "kw"}))
      run = pandoc.List()
      return
    end
    for i, el in ipairs(run) do
      if keep and i > 1 then out:insert(pandoc.Str(WJ)) end
      if keep and el.t == "Str" then
        out:extend(join_str(el.text))
      else
        out:insert(descend(el, lang))
      end
    end
    run = pandoc.List()
  end
  for _, el in ipairs(inlines) do
    if is_break(el) then
      flush()
      out:insert(el)
    elseif el.t == "Str" and (gap[lang] or halt[lang]) then
      run:extend(gap_str(el.text, lang))
    else
      run:insert(el)
    end
  end
  flush()
  return out
end

-- Blocks -----------------------------------------------------------------------------------

walk_blocks = function(blocks, lang)
  local out = pandoc.List()
  for _, block in ipairs(blocks) do
    if block.t == "CodeBlock" or block.t == "RawBlock" then
      out:insert(block)
    else
      local own = lang_of(block) or lang
      local saved = heading
      heading = block.t == "Header"
      out:insert(block:walk({
        traverse = "topdown",
        Div = function(div)
          if lang_of(div) and lang_of(div) ~= own then
            div.content = walk_blocks(div.content, lang_of(div))
            return div, false
          end
        end,
        Inlines = function(inlines) return process(inlines, own), false end,
      }))
      heading = saved
    end
  end
  return out
end

function Pandoc(doc)
  whole, gap, halt = chapters.tags(doc.meta, "cjk-whole-words"), chapters.tags(doc.meta, "cjk-latin-gap"),
    chapters.tags(doc.meta, "cjk-halt")
  latin_lang = doc.meta["cjk-latin-words"] and pandoc.utils.stringify(doc.meta["cjk-latin-words"]) or nil
  if next(whole) == nil and next(gap) == nil and next(halt) == nil then return nil end
  local default = pandoc.utils.stringify(doc.meta["cjk-lang"] or doc.meta.lang or "")
  return chapters.map_blocks(doc, default, function(block, lang) return walk_blocks({block}, lang) end)
end
