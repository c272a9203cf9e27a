-- French typographic spacing: a narrow no-break space (U+202F) before ; : ! ? and » and after «,
-- in the text of the languages named by the metadata `french-spacing` (comma-separated primary
-- subtags, e.g. "fr"). The document's language is `spacing-lang` or `lang`; a level-1 heading
-- with a `lang` attribute (a chapter in another language) switches it until the next one, and
-- a Span or Div in another language is left alone. Code, URLs and numbers like 10:30 are not
-- touched, and text already spaced stays as it is (the filter can run twice).
package.path = PANDOC_SCRIPT_FILE:match("^(.*[/\\])") .. "?.lua;" .. package.path
local chapters = require "chapters"
local NNBSP = "\u{202F}"
local NBSP = "\u{00A0}"
local OPEN, CLOSE = "«", "»"
local langs = {}

local function primary(tag)
  return (tag or ""):match("^([^-]+)") or ""
end

local function spaced(tag)
  return langs[primary(tag)] == true
end

local function is_url(s)
  return s:find("://", 1, true) or s:find("^www%.") or s:find("^mailto:")
end

local function ends_with(s, suffix)
  return suffix == "" or s:sub(-#suffix) == suffix
end

-- Inside one Str: "mot;" "mot !" (with NBSP) "«mot" "mot»".
local function fix_str(s)
  if is_url(s) then return s end
  s = s:gsub(NBSP .. "([;:!?])", NNBSP .. "%1")
  s = s:gsub(NBSP .. CLOSE, NNBSP .. CLOSE)
  s = s:gsub(OPEN .. NBSP, OPEN .. NNBSP)
  s = s:gsub("()([;:!?]+)()", function(a, run, b)
    if a == 1 then return nil end
    local before, after = s:sub(1, a - 1), s:sub(b, b)
    if ends_with(before, NNBSP) or ends_with(before, OPEN) then return nil end
    if after:match("[%w/]") then return nil end          -- 10:30, a:b, http:
    if after:byte() and after:byte() >= 128 then return nil end
    return NNBSP .. run
  end)
  s = s:gsub(OPEN .. "()", function(pos)
    if pos > #s or s:sub(pos, pos + #NNBSP - 1) == NNBSP then return nil end
    return OPEN .. NNBSP
  end)
  s = s:gsub("()" .. CLOSE, function(pos)
    if pos == 1 or ends_with(s:sub(1, pos - 1), NNBSP) then return nil end
    return NNBSP .. CLOSE
  end)
  return s
end

local function starts_with_mark(s)
  return s:match("^[;:!?]") or s:sub(1, #CLOSE) == CLOSE
end

-- One list of inlines: the spaces around the marks, and marks after an inline (a note, a link).
local function fix_inlines(inlines)
  local out = pandoc.List()
  for i, el in ipairs(inlines) do
    local prev, nxt = out[#out], inlines[i + 1]
    if el.t == "Str" then
      local s = fix_str(el.text)
      if starts_with_mark(s) and prev and prev.t ~= "Space" and prev.t ~= "SoftBreak"
          and not (prev.t == "Str" and ends_with(prev.text, NNBSP)) and not is_url(s) then
        s = NNBSP .. s
      end
      out:insert(pandoc.Str(s))
    elseif el.t == "Space" and nxt and nxt.t == "Str" and starts_with_mark(nxt.text)
        and not is_url(nxt.text) then
      out:insert(pandoc.Str(NNBSP))
    elseif el.t == "Space" and prev and prev.t == "Str" and ends_with(prev.text, OPEN) then
      out:insert(pandoc.Str(NNBSP))
    else
      out:insert(el)
    end
  end
  return out
end

local function other_language(el)
  local lang = el.attributes and el.attributes.lang
  return lang and not spaced(lang)
end

local walker = {
  traverse = "topdown",
  Inlines = fix_inlines,
  Span = function(el) if other_language(el) then return el, false end end,
  Div = function(el) if other_language(el) then return el, false end end,
  Code = function(el) return el, false end,
  Link = function(el) if is_url(pandoc.utils.stringify(el.content)) then return el, false end end,
}

function Pandoc(doc)
  langs = chapters.tags(doc.meta, "french-spacing", primary)
  if next(langs) == nil then return nil end
  local default = pandoc.utils.stringify(doc.meta["spacing-lang"] or doc.meta.lang or "")
  return chapters.map_blocks(doc, default, function(block, lang)
    -- walk() filters what is inside a block, not the block itself: check it here
    if spaced(lang) and block.t ~= "CodeBlock" and not (block.t == "Div" and other_language(block)) then
      block = block:walk(walker)
    end
    return {block}
  end)
end
