-- GET /healthz: the floor of the HTTP stack (also run against nginx for the ratio).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario_name = os.getenv("BENCH_NAME") or "healthz"

local req

function init(argv)
  bench.parse_args(argv)
  bench.init_thread()
  req = wrk.format("GET", "/healthz")
end

function request()
  return req
end
