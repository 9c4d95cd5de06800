-- A checked-in guest rates: POST /c/<code>/rate with every question's stars; 200 expected.
-- args: codes_file nthreads form_body
dofile("common.lua")

function init(args)
  load_codes(args[1], tonumber(args[2]))
  body = args[3]
  expected = 200
end

function request()
  local code = next_code()
  return wrk.format("POST", "/c/" .. code .. "/rate",
                    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
