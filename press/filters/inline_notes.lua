-- Pandoc writes notes at the end of the document. For WeasyPrint's page footnotes each
-- note must stay where it is called: turn it into an inline span styled `float: footnote`.
function Note(el)
  local inlines = pandoc.List()
  for i, block in ipairs(el.content) do
    if i > 1 then inlines:insert(pandoc.Space()) end
    inlines:extend(pandoc.utils.blocks_to_inlines({block}))
  end
  return pandoc.Span(inlines, {class = 'footnote'})
end
