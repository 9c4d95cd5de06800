-- A checked-in guest rates: POST /c/<code>/rate with every question's stars (and, for the
-- photo submit, a photo); 200 expected with the thank-you page (it carries ok_marker: a form
-- sent back with an error is a 200 too).
-- args: codes_file nthreads body_file content_type ok_marker
dofile("common.lua")

function init(args)
  load_codes(args[1], tonumber(args[2]))
  local f = assert(io.open(args[3], "rb"))
  body = f:read("*a")
  f:close()
  content_type = args[4]
  ok_marker = args[5]
  expected = 200
end

function request()
  local code = next_code()
  return wrk.format("POST", "/c/" .. code .. "/rate", {["Content-Type"] = content_type}, body)
end
