-- Shared by the bench scripts (loaded with dofile; wrk runs with bench/ as its directory).
--
-- setup() numbers the threads; init() in each thread loads its share of a codes file
-- (line i goes to thread i mod nthreads, so no two requests of a run share a code);
-- response() counts every answer other than the expected one: another status, or, when
-- the script sets ok_marker, a page without it (the phone's tap answers 200 for a check-in
-- and for "already checked in" alike: only the success page carries the marker); done()
-- prints one "BENCH_JSON {...}" line that run.py parses.

local threads = {}
local count = 0

function setup(thread)
  thread:set("thread_id", count)
  count = count + 1
  table.insert(threads, thread)
end

-- per-thread globals (read back in done() with thread:get)
thread_id = 0
nthreads = 1
expected = 200
ok_marker = nil
sent = 0
unexpected = 0
exhausted = 0
statuses = {}
codes = {}

function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  return lines
end

-- this thread's share of the codes file: lines thread_id, thread_id + n, thread_id + 2n, ...
function load_codes(path, n)
  nthreads = n
  local i = 0
  for line in io.lines(path) do
    if line ~= "" then
      if i % n == thread_id then codes[#codes + 1] = line end
      i = i + 1
    end
  end
end

-- the next fresh code and the request's index in the run (over all threads); past the
-- end of the file a code no guest has, which answers 404 and so counts as an error
function next_code()
  local k = sent
  sent = sent + 1
  local index = thread_id + k * nthreads
  if k < #codes then return codes[k + 1], index end
  exhausted = exhausted + 1
  return string.format("EXHAUSTED%023d", index), index
end

function response(status, headers, body)
  local key = nil
  if status ~= expected then
    key = tostring(status)
  elseif ok_marker and not (body and string.find(body, ok_marker, 1, true)) then
    key = tostring(status) .. "-not-ok"
  end
  if key then
    unexpected = unexpected + 1
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total_sent, max_sent, total_unexpected, total_exhausted = 0, 0, 0, 0
  local by_status = {}
  for _, t in ipairs(threads) do
    local s = t:get("sent") or 0
    total_sent = total_sent + s
    if s > max_sent then max_sent = s end
    total_unexpected = total_unexpected + (t:get("unexpected") or 0)
    total_exhausted = total_exhausted + (t:get("exhausted") or 0)
    for key, n in pairs(t:get("statuses") or {}) do
      by_status[key] = (by_status[key] or 0) + n
    end
  end
  local parts = {}
  for key, n in pairs(by_status) do parts[#parts + 1] = string.format('"%s":%d', key, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"threads":%d,"sent":%d,' ..
    '"max_sent_per_thread":%d,"unexpected":%d,"exhausted":%d,"unexpected_statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, #threads, total_sent,
    max_sent, total_unexpected, total_exhausted, table.concat(parts, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
