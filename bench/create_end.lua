-- wrk script: create a conversation, then end it, over and over (the URL's path is the create route).
-- BENCH_AUTH: server key.
-- Prints "created N ended N bad N" at the end; bad counts every answer that is neither 201 nor 200.
local auth = os.getenv("BENCH_AUTH") or ""
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. auth}
local ids = {}
created, ended, bad = 0, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  local id = table.remove(ids)
  if id then
    return wrk.format("POST", "/api/conversations/" .. id .. "/end", headers, "{}")
  end
  return wrk.format("POST", wrk.path, headers, "{}")
end

function response(status, _, body)
  if status == 201 then
    local id = body:match('"conversation_id"%s*:%s*"([^"]+)"')
    if id then table.insert(ids, id) end
    created = created + 1
  elseif status == 200 then
    ended = ended + 1
  else
    bad = bad + 1
  end
end

function done()
  local c, e, b = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); e = e + t:get("ended"); b = b + t:get("bad")
  end
  io.write(string.format("created %d ended %d bad %d\n", c, e, b))
end
