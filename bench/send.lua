-- wrk script: a ~1 KB Cloudflare send with keep-alive.
-- Env: CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID (from var/dev.env).
local token = os.getenv("CLOUDFLARE_API_TOKEN") or ""
local account = os.getenv("CLOUDFLARE_ACCOUNT_ID") or ""
local text = string.rep("Your order has shipped and is on its way. ", 18)

wrk.method = "POST"
wrk.path = "/client/v4/accounts/" .. account .. "/email/sending/send"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"from":{"address":"orders@example.com","name":"Shop"},' ..
  '"to":["customer@example.net"],"subject":"Your order #1234 has shipped",' ..
  '"text":"' .. text .. '","headers":{"X-Order":"1234"}}'

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx_or_errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors, summary.requests))
end
