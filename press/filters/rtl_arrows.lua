-- Arrows that point along the line (→ ←, ⟶ ⟵, ⇒ ⇐) point with the reading direction: in text of
-- a right-to-left language (metadata `rtl-langs`, comma-separated tags) they are mirrored, as
-- Unicode's bidi mirroring does for brackets but not for arrows (a callout's `→` points back
-- against an Arabic line). The document's language is `arrows-lang`; a level-1 heading, Span
-- or Div with a `lang` attribute switches it for its content. Code is left alone.
package.path = PANDOC_SCRIPT_FILE:match("^(.*[/\\])") .. "?.lua;" .. package.path
local chapters = require "chapters"
local rtl = {}
local MIRROR = {["→"] = "←", ["←"] = "→", ["⟶"] = "⟵", ["⟵"] = "⟶", ["⇒"] = "⇐", ["⇐"] = "⇒"}

local function mirror(s)
  local out = {}
  for _, c in utf8.codes(s) do
    local ch = utf8.char(c)
    out[#out + 1] = MIRROR[ch] or ch
  end
  return table.concat(out)
end

local function walker(lang)
  return {
    traverse = "topdown",
    Str = function(el) if rtl[lang] then return pandoc.Str(mirror(el.text)) end end,
    Code = function(el) return el, false end,
    CodeBlock = function(el) return el, false end,
    Span = function(el)
      local own = el.attributes.lang
      if own and own ~= lang then return el:walk(walker(own)), false end
    end,
    Div = function(el)
      local own = el.attributes.lang
      if own and own ~= lang then return el:walk(walker(own)), false end
    end,
  }
end

function Pandoc(doc)
  rtl = chapters.tags(doc.meta, "rtl-langs")
  if next(rtl) == nil then return nil end
  local default = pandoc.utils.stringify(doc.meta["arrows-lang"] or doc.meta.lang or "")
  return chapters.map_blocks(doc, default, function(block, lang)
    return {pandoc.Div({block}):walk(walker(lang)).content[1]}
  end)
end
