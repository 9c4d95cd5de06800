-- The guest's phone: POST /c/<code> with consent=y (the one tap); 200 expected.
-- args: codes_file nthreads
dofile("common.lua")

function init(args)
  load_codes(args[1], tonumber(args[2]))
  expected = 200
end

function request()
  local code = next_code()
  return wrk.format("POST", "/c/" .. code,
                    {["Content-Type"] = "application/x-www-form-urlencoded"}, "consent=y")
end
