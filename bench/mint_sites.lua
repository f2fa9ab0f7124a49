-- wrk script: POST a session mint naming a new site each request (https://s<N>.example.com), so that no
-- token or encoded claims kept by the signer are used again. Environment: BENCH_AUTH (bearer).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"origin":"https://s' .. n .. '.example.com"}')
end
