-- POST one JSON body, check every response, and print a machine-readable summary.
--
-- Environment (set by bench/proxy_overhead.py):
--   WG_BODY_FILE   path of the JSON request body
--   WG_AUTH        bearer token ("" for none)
--   WG_EXPECT_DONE "1" for chat streams: a 200 must also end with "data: [DONE]"
-- Each response with another status, or a stream without its terminator, counts as bad.
-- done() prints one line: WRK_JSON {...} (latencies in microseconds).

local file = assert(io.open(os.getenv("WG_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("WG_AUTH") or ""
if auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end
local expect_done = os.getenv("WG_EXPECT_DONE") == "1"
local terminator = "data: [DONE]\n\n"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  first_bad = ""
end

function response(status, headers, body)
  local ok = status == 200
  if ok and expect_done then
    ok = body:sub(-#terminator) == terminator
  end
  if not ok then
    bad = bad + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. body:sub(1, 200)
    end
  end
end

local function quote(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, requests)
  local total_bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    if sample == "" then
      sample = thread:get("first_bad")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"non_2xx":%d,' ..
    '"bad":%d,"first_bad":%s,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    total_bad, quote(sample), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
