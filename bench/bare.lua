-- The reference: POST /insert on bench/bare.py (one ORM INSERT + commit); 201 expected.
dofile("common.lua")

function init(args)
  expected = 201
  req = wrk.format("POST", "/insert", {["Content-Type"] = "application/json"}, "")
end

function request()
  sent = sent + 1
  return req
end
