-- 80% GET /api/users/me, 10% GET /api/users, 5% login, 5% refresh (single-use tokens,
-- as in refresh.lua; a thread without one left sends a `me` instead).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
dofile(os.getenv("BENCH_LUA_DIR") .. "/tokens.lua")
scenario_name = os.getenv("BENCH_NAME") or "mixed"

local json = {["Content-Type"] = "application/json"}
local me_reqs, users_reqs, login_reqs, i

function init(argv)
  bench.parse_args(argv)
  bench.init_thread()
  tokens_init()
  me_reqs, users_reqs, login_reqs = {}, {}, {}
  for _, t in ipairs(bench.read_all(os.getenv("BENCH_DATA") .. "/access.txt")) do
    local auth = {["Authorization"] = "Bearer " .. t}
    table.insert(me_reqs, wrk.format("GET", "/api/users/me", auth))
    table.insert(users_reqs, wrk.format("GET", "/api/users?limit=20", auth))
  end
  for _, line in ipairs(bench.read_all(os.getenv("BENCH_DATA") .. "/users.txt")) do
    local email, password = line:match("^([^\t]+)\t(.*)$")
    table.insert(login_reqs, wrk.format("POST", "/api/auth/login", json,
      string.format('{"email":"%s","password":"%s"}', email, password)))
  end
  i = thread_index * 7919
  math.randomseed(os.time() + thread_index)
end

function request()
  i = i + 1
  local r = math.random()
  if r < 0.80 then return me_reqs[(i % #me_reqs) + 1] end
  if r < 0.90 then return users_reqs[(i % #users_reqs) + 1] end
  if r < 0.95 then return login_reqs[(i % #login_reqs) + 1] end
  local t = tokens_pop()
  if t == nil then return me_reqs[(i % #me_reqs) + 1] end
  return wrk.format("POST", "/api/auth/refresh", json, '{"refresh":"' .. t .. '"}')
end

function response(status, hdrs, body)
  bench.count(status)
  if status == 200 then tokens_take_from(body) end
end
