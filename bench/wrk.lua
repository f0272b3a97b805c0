-- wrk script for bench/run.js.
-- Arguments after "--": <method> <bearer token> <body file or "-"> <content type or "-">
-- The request (with its multipart body, if any) is built once per thread in init().
-- done() prints one line "WRKJSON {...}" that run.js parses; times are microseconds.

local req

function init(args)
  local method, token, bodyFile, contentType = args[1] or "GET", args[2] or "-", args[3] or "-", args[4] or "-"
  local headers = {}
  local body = nil
  if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
  if bodyFile ~= "-" then
    local f = assert(io.open(bodyFile, "rb"))
    body = f:read("*a")
    f:close()
    headers["Content-Type"] = contentType
  end
  wrk.method = method
  wrk.body = body
  for k, v in pairs(headers) do wrk.headers[k] = v end
  req = wrk.format(method, nil, headers, body)
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
