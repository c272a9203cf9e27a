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

-- A heading with a note (appendix B's empty podcast section carries an editor's note): its PDF
-- bookmark would print the note's call number (`…팟캐스트(Podcast)7`). Give it the heading's text
-- without the note as `data-bookmark`, which styles/book.css uses as the bookmark label.
function Header(el)
  local noted = false
  local plain = el.content:walk({
    Span = function(span)
      if span.classes:includes('footnote') then
        noted = true
        return {}
      end
    end,
  })
  if noted then
    el.attributes['bookmark'] = pandoc.utils.stringify(plain)
  end
  return el
end
