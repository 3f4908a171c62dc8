-- POST /api/auth/register with a new address on every request (one argon2id hash each,
-- a pending user row, an OTP in Redis and a mail job).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario_name = os.getenv("BENCH_NAME") or "register"

local headers = {["Content-Type"] = "application/json"}
local nonce, n

function init(argv)
  bench.parse_args(argv)
  bench.init_thread()
  nonce = tostring(os.time())
  n = 0
end

function request()
  n = n + 1
  local name = string.format("r%st%dn%d", nonce, thread_index, n)
  local body = string.format('{"email":"%s@example.com","username":"%s","password":"tulip-Harbor-93-quartz"}',
                             name, name)
  return wrk.format("POST", "/api/auth/register", headers, body)
end
