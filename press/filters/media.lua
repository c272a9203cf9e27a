-- Pandoc runs sandboxed (--sandbox): it reads no file on its own. The press has checked every
-- image a chapter shows (sanitize.py) and lists them in the metadata field `press-media`
-- (path and media type); this filter reads exactly those into pandoc's media bag, so the EPUB
-- writer embeds them and nothing else.
function Pandoc(doc)
  local media = doc.meta['press-media']
  if media then
    for _, item in ipairs(media) do
      local path = pandoc.utils.stringify(item.path)
      local f = assert(io.open(path, 'rb'))
      local data = f:read('a')
      f:close()
      pandoc.mediabag.insert(path, pandoc.utils.stringify(item.mime), data)
    end
    doc.meta['press-media'] = nil
  end
  return doc
end
