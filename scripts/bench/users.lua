-- GET /api/users?limit=20 (the first page of active users), rotating callers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario_name = os.getenv("BENCH_NAME") or "users"

local reqs, i

function init(argv)
  bench.parse_args(argv)
  bench.init_thread()
  reqs = {}
  for _, t in ipairs(bench.read_all(os.getenv("BENCH_DATA") .. "/access.txt")) do
    table.insert(reqs, wrk.format("GET", "/api/users?limit=20", {["Authorization"] = "Bearer " .. t}))
  end
  i = thread_index * 7919
end

function request()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end
