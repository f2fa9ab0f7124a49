-- wrk script: POST a JSON body. Environment: BENCH_AUTH (bearer), BENCH_API_KEY (x-api-key), BENCH_BODY.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then wrk.headers["x-api-key"] = key end
local body = os.getenv("BENCH_BODY")
wrk.body = (body and body ~= "") and body or "{}"
