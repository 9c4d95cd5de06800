-- The guest's phone: POST /c/<code> with consent=y (the one tap); 200 expected, and a page
-- that says the guest is checked in (it carries ok_marker): "already checked in" is a 200 too.
-- args: codes_file nthreads ok_marker
dofile("common.lua")

function init(args)
  load_codes(args[1], tonumber(args[2]))
  expected = 200
  ok_marker = args[3]
end

function request()
  local code = next_code()
  return wrk.format("POST", "/c/" .. code,
                    {["Content-Type"] = "application/x-www-form-urlencoded"}, "consent=y")
end
