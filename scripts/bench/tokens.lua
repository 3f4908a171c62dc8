-- Single-use refresh tokens for refresh.lua and mixed.lua. Each thread takes its own
-- share of BENCH_DATA/refresh.txt (every threads-th line), uses each token once, and
-- queues the successor that a rotation (or a login) answers with. done() writes the
-- tokens still unused back to the file, so a later run starts from valid ones.
tokens = {}
tokens_head = 1
tokens_tail = 0

function tokens_init()
  for _, t in ipairs(bench.read_share(os.getenv("BENCH_DATA") .. "/refresh.txt", thread_index, args.threads)) do
    tokens_push(t)
  end
end

function tokens_push(t)
  tokens_tail = tokens_tail + 1
  tokens[tokens_tail] = t
end

-- The next unused token, or nil when this thread has none left.
function tokens_pop()
  if tokens_head > tokens_tail then return nil end
  local t = tokens[tokens_head]
  tokens[tokens_head] = nil
  tokens_head = tokens_head + 1
  return t
end

function tokens_take_from(body)
  if body == nil then return end
  local t = body:match('"refresh":"([^"]+)"')
  if t then tokens_push(t) end
end

local survivors = {}

bench.on_thread_done = function(t)
  for _, tok in pairs(t:get("tokens") or {}) do table.insert(survivors, tok) end
end

bench.after_done = function()
  local f = io.open(os.getenv("BENCH_DATA") .. "/refresh.txt", "w")
  for _, tok in ipairs(survivors) do f:write(tok, "\n") end
  f:close()
  io.write(string.format("BENCH_TOKENS left=%d\n", #survivors))
end
