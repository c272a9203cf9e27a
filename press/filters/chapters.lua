-- Shared by the filters that act per language (cjk.lua, french_spacing.lua, rtl_arrows.lua),
-- loaded with `require "chapters"` once the filter's folder is on package.path.
--
-- A document holds one chapter or several; each level-1 heading with a `lang` attribute sets
-- the language of its chapter, the others that of the document.
local M = {}

-- The set of tags named in a comma-separated metadata value, e.g. `cjk-halt: ja,zh-Hans`,
-- each passed through `key` (default: the tag itself).
function M.tags(meta, name, key)
  local set = {}
  for tag in pandoc.utils.stringify(meta[name] or ""):gmatch("[^,%s]+") do set[key and key(tag) or tag] = true end
  return set
end

-- Replace each top-level block by the list fn(block, lang) returns, lang being its chapter's.
function M.map_blocks(doc, default, fn)
  local current = default
  local blocks = pandoc.List()
  for _, block in ipairs(doc.blocks) do
    if block.t == "Header" and block.level == 1 then
      current = block.attributes.lang or default
    end
    blocks:extend(fn(block, current))
  end
  doc.blocks = blocks
  return doc
end

return M
