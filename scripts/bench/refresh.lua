-- POST /api/auth/refresh: every refresh token is presented exactly once (rotation);
-- the successor in each answer goes back into the thread's queue. A thread whose queue
-- runs dry stops, and the rate is then counted over the time the threads ran.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
dofile(os.getenv("BENCH_LUA_DIR") .. "/tokens.lua")
scenario_name = os.getenv("BENCH_NAME") or "refresh"

local headers = {["Content-Type"] = "application/json"}
local idle_req

function init(argv)
  bench.parse_args(argv)
  bench.init_thread()
  tokens_init()
  idle_req = wrk.format("GET", "/healthz")
end

function request()
  local t = tokens_pop()
  if t == nil then
    bench.exhaust()
    return idle_req
  end
  return wrk.format("POST", "/api/auth/refresh", headers, '{"refresh":"' .. t .. '"}')
end

function response(status, hdrs, body)
  if exhausted then return end
  bench.count(status)
  if status == 200 then tokens_take_from(body) end
end
