-- wrk script for one fixed request (login or query), reporting p50/p99 and non-2xx answers.
-- Set by load.sh through environment variables: METHOD, BODY, TOKEN.
local method = os.getenv("METHOD") or "GET"
local body = os.getenv("BODY")
local token = os.getenv("TOKEN")
wrk.method = method
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  bad = 0
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do non2xx = non2xx + t:get("bad") end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + non2xx
  io.write(string.format("%d requests, %.1f req/s, p50 %.1f ms, p99 %.1f ms, errors %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
