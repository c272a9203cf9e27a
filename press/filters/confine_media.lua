-- Images are embedded from the book directory only: no URL scheme (https:, file:),
-- no absolute path, no `..`. Anything else stops the build before pandoc reads it.
local function refuse(src)
  error('press-refused-image: ' .. src, 0)
end

function Image(el)
  local src = el.src
  if src:match('^%a[%w+.-]*:') or src:sub(1, 1) == '/' or src:sub(1, 1) == '\\' then
    refuse(src)
  end
  for part in src:gmatch('[^/\\]+') do
    if part == '..' then refuse(src) end
  end
  return el
end
