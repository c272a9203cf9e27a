-- Italic text in scripts without italics (CJK, Hangul, Arabic, Hebrew, Indic, Thai …) would be
-- slanted by the renderer: a Korean title cited in an English note, a Japanese word in an
-- English emphasis. Such runs inside Emph get a Span of class `upright` (font-style: normal),
-- as Chicago sets titles in non-Latin scripts in roman. (Emphasis in those languages themselves
-- is styled per language: html.font_css.)
local function upright(c)
  return (c >= 0x0590 and c <= 0x0FFF) or (c >= 0x1100 and c <= 0x11FF) or (c >= 0x3000 and c <= 0x9FFF)
      or (c >= 0xAC00 and c <= 0xD7AF) or (c >= 0xF900 and c <= 0xFAFF) or (c >= 0xFB1D and c <= 0xFEFF)
      or (c >= 0xFF01 and c <= 0xFF60) or c >= 0x20000
end

local function split(s)
  local out, buf, mode = pandoc.List(), {}, nil
  local function flush()
    if #buf == 0 then return end
    local str = pandoc.Str(table.concat(buf))
    out:insert(mode and pandoc.Span({str}, {class = "upright"}) or str)
    buf = {}
  end
  for _, c in utf8.codes(s) do
    local u = upright(c)
    if u ~= mode then flush(); mode = u end
    buf[#buf + 1] = utf8.char(c)
  end
  flush()
  return out
end

function Emph(el)
  return pandoc.Emph(el.content:walk({
    Str = function(s)
      for _, c in utf8.codes(s.text) do
        if upright(c) then return split(s.text) end
      end
    end,
  }))
end
