-- Shared by the wrk scenarios (loaded with dofile): per-thread counters kept by
-- response(), token files, pacing, and one summary line printed by done():
--   BENCH scenario=me rps=… p50_ms=… p99_ms=… requests=… non2xx=… statuses=503:4 socket_errors=…
-- Script arguments (after `--`) are key=value pairs: file=…, rate=… (requests/s over all
-- threads, for paced runs), threads=… (wrk's -t, so each thread knows its share).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")

bench = {}

function bench.now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

-- main state ---------------------------------------------------------------------------
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- thread state -------------------------------------------------------------------------
args = {}
responses = 0
non2xx = 0
statuses = {}
exhausted = false
started_us = 0
last_us = 0

function bench.parse_args(argv)
  for _, a in ipairs(argv) do
    local k, v = a:match("^([^=]+)=(.*)$")
    if k then args[k] = v end
  end
  args.threads = tonumber(args.threads or "2")
end

-- Lines of `path` that belong to this thread: every threads-th line, so that no two
-- threads ever share a single-use token.
function bench.read_share(path, index, count)
  local out, i = {}, 0
  for line in io.lines(path) do
    if line ~= "" then
      if i % count == index then table.insert(out, line) end
      i = i + 1
    end
  end
  return out
end

function bench.read_all(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then table.insert(out, line) end
  end
  return out
end

function bench.count(status)
  responses = responses + 1
  last_us = bench.now_us()
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function response(status, headers, body)
  bench.count(status)
end

-- Open-loop pacing: each thread sends at most rate/threads requests per second,
-- whatever the latency (the connections must be enough to cover it).
local next_send_us = nil
local interval_us = nil

function bench.paced_delay()
  if not args.rate then return 0 end
  if not interval_us then
    interval_us = 1000000 * args.threads / tonumber(args.rate)
    next_send_us = bench.now_us()
  end
  local now = bench.now_us()
  local wait = next_send_us - now
  next_send_us = math.max(next_send_us, now - 10 * interval_us) + interval_us
  if wait <= 0 then return 0 end
  return math.floor(wait / 1000)
end

function bench.init_thread()
  started_us = bench.now_us()
end

-- A thread out of single-use tokens stops; its rate is then counted over the time it ran.
function bench.exhaust()
  exhausted = true
  wrk.thread:stop()
end

-- main state: done() ---------------------------------------------------------------------
function done(summary, latency, requests)
  local total, bad, any_exhausted, paced_rate = 0, 0, false, 0
  local merged = {}
  for _, t in ipairs(threads) do
    total = total + (t:get("responses") or 0)
    bad = bad + (t:get("non2xx") or 0)
    for s, n in pairs(t:get("statuses") or {}) do merged[s] = (merged[s] or 0) + n end
    if t:get("exhausted") then
      any_exhausted = true
    end
    local span = ((t:get("last_us") or 0) - (t:get("started_us") or 0)) / 1e6
    if span > 0 then paced_rate = paced_rate + (t:get("responses") or 0) / span end
    if bench.on_thread_done then bench.on_thread_done(t) end
  end
  local rps = summary.requests / (summary.duration / 1e6)
  if any_exhausted then rps = paced_rate end
  local ok_rps = 0
  if total > 0 then ok_rps = rps * (total - bad) / total end
  local parts = {}
  for s, n in pairs(merged) do table.insert(parts, s .. ":" .. n) end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format(
    "BENCH scenario=%s rps=%.1f ok_rps=%.1f p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f max_ms=%.3f requests=%d counted=%d non2xx=%d statuses=%s socket_errors=%d connect=%d read=%d write=%d timeout=%d exhausted=%s\n",
    scenario_name or "?", rps, ok_rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000, summary.requests, total, bad,
    (#parts > 0) and table.concat(parts, ",") or "-",
    e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout,
    tostring(any_exhausted)))
  if bench.after_done then bench.after_done() end
end
