-- wrk script: POST with the headers given in the environment (BENCH_AUTH).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
wrk.body = "{}"
