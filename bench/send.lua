-- wrk script: a ~1 KB Cloudflare send (SPEC §3) over keep-alive.
--
-- Env: CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID (from var/dev.env);
-- BENCH_FROM, the sender (default orders@example.com, the dev domain);
-- BENCH_IDS, a file: when set, every 2xx is counted by status and the
-- message_id of each 200 is written there, one a line, so that run.sh
-- can check each acknowledged message against the store. Leave it unset
-- for the ceiling: the per-response hook costs wrk CPU.
local token = os.getenv("CLOUDFLARE_API_TOKEN") or ""
local account = os.getenv("CLOUDFLARE_ACCOUNT_ID") or ""
local from = os.getenv("BENCH_FROM") or "orders@example.com"
local ids_file = os.getenv("BENCH_IDS")
local text = string.rep("Your order has shipped and is on its way. ", 18)

wrk.method = "POST"
wrk.path = "/client/v4/accounts/" .. account .. "/email/sending/send"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"from":{"address":"' .. from .. '","name":"Shop"},' ..
  '"to":["customer@example.net"],"subject":"Your order #1234 has shipped",' ..
  '"text":"' .. text .. '","headers":{"X-Order":"1234"}}'

-- Main state: keep the threads to read their counters in done().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- Thread states: counters and the acknowledged ids.
ok, other, ids = 0, 0, {}
if ids_file then
  function response(status, headers, body)
    if status == 200 then
      ok = ok + 1
      ids[ok] = string.match(body, '"message_id":"(<[^"]*>)"') or "?"
    else
      other = other + 1
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout
  local n200, other = 0, 0
  local f = ids_file and io.open(ids_file, "w")
  for _, t in ipairs(threads) do
    n200 = n200 + t:get("ok")
    other = other + t:get("other")
    if f then
      for _, id in ipairs(t:get("ids")) do f:write(id, "\n") end
    end
  end
  if f then f:close() end
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p90_ms=%.2f " ..
    "p99_ms=%.2f max_ms=%.2f requests=%d",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests))
  if ids_file then
    io.write(string.format(" status200=%d non200=%d", n200, other))
  else
    io.write(string.format(" status_ge400=%d", summary.errors.status))
  end
  io.write(string.format(" socket_errors=%d\n", errors))
end
