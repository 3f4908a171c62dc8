-- POST /api/auth/login with the prepared users' passwords. With rate=R (requests/s over
-- all threads) the load is paced (open loop) instead of as fast as the server answers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario_name = os.getenv("BENCH_NAME") or "login"

local reqs, i

function init(argv)
  bench.parse_args(argv)
  bench.init_thread()
  reqs = {}
  local headers = {["Content-Type"] = "application/json"}
  for _, line in ipairs(bench.read_all(os.getenv("BENCH_DATA") .. "/users.txt")) do
    local email, password = line:match("^([^\t]+)\t(.*)$")
    local body = string.format('{"email":"%s","password":"%s"}', email, password)
    table.insert(reqs, wrk.format("POST", "/api/auth/login", headers, body))
  end
  i = thread_index * 7919
end

function delay()
  return bench.paced_delay()
end

function request()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end
