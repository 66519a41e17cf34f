-- wrk script for bench/e2e.sh: bench/send.lua's ~1 KB send, but to a
-- recipient at bench.test (delivered over SMTP by the mx route), and for
-- each 200 its message_id and the wall-clock time wrk read it, so that
-- e2e_delays.py can match it with its arrival at smtp-sink.
--
-- Env: CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID (var/dev.env);
-- BENCH_ACKS, the file of "message_id unix_seconds" lines (required);
-- BENCH_MAX, at most this many requests per wrk thread (default: no cap).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } e2e_timespec;
int clock_gettime(int clk, e2e_timespec *ts);
]]
local ts = ffi.new("e2e_timespec")
local function now() -- CLOCK_REALTIME, as smtp-sink's file times
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local token = os.getenv("CLOUDFLARE_API_TOKEN") or ""
local account = os.getenv("CLOUDFLARE_ACCOUNT_ID") or ""
local acks_file = os.getenv("BENCH_ACKS")
local max = tonumber(os.getenv("BENCH_MAX") or "0")
local text = string.rep("Your order has shipped and is on its way. ", 18)

wrk.method = "POST"
wrk.path = "/client/v4/accounts/" .. account .. "/email/sending/send"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"from":{"address":"orders@example.com","name":"Shop"},' ..
  '"to":["customer@bench.test"],"subject":"Your order #1234 has shipped",' ..
  '"text":"' .. text .. '","headers":{"X-Order":"1234"}}'

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

ok, other, sent, ids, times = 0, 0, 0, {}, {}
function request()
  sent = sent + 1
  if max > 0 and sent > max then
    wrk.thread:stop()
  end
  return wrk.format()
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    ids[ok] = string.match(body, '"message_id":"(<[^"]*>)"') or "?"
    times[ok] = now()
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout
  local n200, nother = 0, 0
  local f = assert(io.open(acks_file, "w"))
  for _, t in ipairs(threads) do
    n200 = n200 + t:get("ok")
    nother = nother + t:get("other")
    local tid, tt = t:get("ids"), t:get("times")
    for i, id in ipairs(tid) do
      f:write(id, " ", string.format("%.6f", tt[i]), "\n")
    end
  end
  f:close()
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f " ..
    "max_ms=%.2f requests=%d status200=%d non200=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, n200, nother, errors))
end
