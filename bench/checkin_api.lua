-- The scanner API: POST /api/v1/checkins {"code", "nonce"} with a Bearer token; 201 expected.
-- args: codes_file nthreads tokens_file run_tag
-- Request i of the run uses token i mod N: the API allows 6000 requests/minute per token,
-- so the load is spread over N scanners, as at a venue with many of them.
dofile("common.lua")

function init(args)
  load_codes(args[1], tonumber(args[2]))
  tokens = read_lines(args[3])
  tag = args[4]
  expected = 201
end

function request()
  local code, index = next_code()
  local body = string.format('{"code":"%s","nonce":"%s-%d"}', code, tag, index)
  return wrk.format("POST", "/api/v1/checkins", {
    ["Authorization"] = "Bearer " .. tokens[(index % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }, body)
end
