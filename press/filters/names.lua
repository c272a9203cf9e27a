-- Words with a capital after a small letter (OpenAI, ChatGPT) or letters beside digits (GPT-4o)
-- are names: a hyphenation dictionary splits them wrongly ("Ope-nAI"), so they stay whole.
function Str(el)
  local t = el.text
  if t:find('%l%u') or t:find('%a%d') or t:find('%d%a') then
    return pandoc.Span({el}, {class = 'nohyphen'})
  end
end
