-- Kong 3.9's prometheus plugin's series, kept by the rendered HAProxy (lua-load: one Lua
-- state shared by HAProxy's threads, so every thread counts into the same tables).
--
--   http-after-response set-var(txn.kong_counted) var(txn.kong_log),lua.kong_observe
--       txn.kong_log: "<service>|<route>|<consumer>|<status>|<proxied>|<gateway error>|
--                      <request ms>|<upstream ms or -1>|<request head bytes>|
--                      <request body bytes>|<response head bytes>|<response body bytes>"
--       (a field of an option kong.yml leaves off is empty)
--   http-request use-service lua.kong_metrics      (the status listener's /metrics)
--
-- As the plugin's log phase: a request that matched no route is not counted at all;
-- source is "service" for the upstream's own answer and "kong" for anything the gateway
-- answered (401, 404, 413, 429, a failed upstream's 502/504); the kong latency is the time
-- before the upstream was asked (proxied) or the whole request (answered by the gateway);
-- the upstream latency is observed only for proxied requests. Buckets are the plugin's.
-- Series of an option the rendered configuration left off are simply never fed.

local KONG_LATENCY_BUCKETS = { 1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000,
  3000, 6000 }
local UPSTREAM_LATENCY_BUCKETS = { 25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000,
  30000, 60000 }
local WORKSPACE = "default"  -- DB-less Kong has the one workspace

local requests = {}    -- label string -> count
local bandwidth = {}   -- label string -> bytes
local histograms = {
  { name = "kong_kong_latency_ms", buckets = KONG_LATENCY_BUCKETS, series = {},
    help = "Latency added by Kong and enabled plugins for each service/route in Kong" },
  { name = "kong_upstream_latency_ms", buckets = UPSTREAM_LATENCY_BUCKETS, series = {},
    help = "Latency added by upstream response for each service/route in Kong" },
  { name = "kong_request_latency_ms", buckets = UPSTREAM_LATENCY_BUCKETS, series = {},
    help = "Total latency incurred during requests for each service/route in Kong" },
}
local KONG, UPSTREAM, REQUEST = histograms[1], histograms[2], histograms[3]

local function node_id()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  local hex = "0123456789abcdef"
  local out = {}
  for i = 1, 32 do
    local n = math.random(1, 16)
    out[i] = hex:sub(n, n)
  end
  local s = table.concat(out)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-4" .. s:sub(14, 16) .. "-a" .. s:sub(18, 20)
    .. "-" .. s:sub(21, 32)
end
local NODE_ID = node_id()

-- Per bucket (not cumulative: one increment per observation), cumulated when served.
local function observe(histogram, labels, value)
  local series = histogram.series[labels]
  if series == nil then
    series = { counts = {}, sum = 0, count = 0 }
    for i = 1, #histogram.buckets + 1 do
      series.counts[i] = 0
    end
    histogram.series[labels] = series
  end
  local buckets, i = histogram.buckets, 1
  while i <= #buckets and value > buckets[i] do
    i = i + 1
  end
  series.counts[i] = series.counts[i] + 1
  series.sum = series.sum + value
  series.count = series.count + 1
end

-- The series' label strings for one "<service>|<route>|<consumer>|<code>|<source>", built
-- the first time it is seen (a request then only looks them up).
local series_of = {}

local function series_for(prefix)
  local found = series_of[prefix]
  if found ~= nil then
    return found
  end
  local service, route, consumer, status, source =
    prefix:match("^([^|]*)|([^|]*)|([^|]*)|(%d*)|(%a*)$")
  if route == nil or route == "" then
    found = false  -- no route matched: the plugin does not run
  else
    local where = 'service="' .. service .. '",route="' .. route .. '"'
    local tail = '",workspace="' .. WORKSPACE .. '",consumer="' .. consumer .. '"'
    found = {
      requests = status ~= "" and (where .. ',code="' .. status .. '",source="' .. source .. tail)
        or nil,
      ingress = where .. ',direction="ingress' .. tail,
      egress = where .. ',direction="egress' .. tail,
      latency = where .. ',workspace="' .. WORKSPACE .. '"',
    }
  end
  series_of[prefix] = found
  return found
end

-- line: "<service>|<route>|<consumer>|<code>|<source>|<request ms>|<upstream ms or -1>|
-- <request head>|<request body>|<response head>|<response body>"; a field of an option left
-- off is empty.
local function count(line)
  local prefix, request_ms, upstream_ms, in_head, in_body, out_head, out_body =
    line:match("^([^|]*|[^|]*|[^|]*|%d*|%a*)|(-?%d*)|(-?%d*)|(%d*)|(%d*)|(%d*)|(%d*)$")
  local series = prefix and series_for(prefix)
  if not series then
    return "0"
  end
  if series.requests then  -- status_code_metrics
    requests[series.requests] = (requests[series.requests] or 0) + 1
  end
  if in_head ~= "" then  -- bandwidth_metrics: header block plus declared body length
    local ingress = tonumber(in_head) + (tonumber(in_body) or 0)
    local egress = (tonumber(out_head) or 0) + (tonumber(out_body) or 0)
    bandwidth[series.ingress] = (bandwidth[series.ingress] or 0) + ingress
    if egress > 0 then
      bandwidth[series.egress] = (bandwidth[series.egress] or 0) + egress
    end
  end
  if request_ms == "" then
    return "1"  -- latency_metrics off
  end
  request_ms, upstream_ms = tonumber(request_ms), tonumber(upstream_ms) or -1
  if upstream_ms >= 0 then
    observe(REQUEST, series.latency, request_ms)
    observe(UPSTREAM, series.latency, upstream_ms)
    observe(KONG, series.latency, math.max(request_ms - upstream_ms, 0))
  elseif request_ms >= 0 then
    observe(REQUEST, series.latency, request_ms)
    observe(KONG, series.latency, request_ms)
  end
  return "1"
end

-- The after-response rules' line: the source is "service" only for the upstream's own
-- answer (proxied, and not HAProxy's error page for a failed upstream).
core.register_converters("kong_observe", function(line)
  local head, proxied, gateway_error, rest = line:match("^([^|]*|[^|]*|[^|]*|%d*)|(%d*)|(%d*)|(.*)$")
  if head == nil then
    return "0"
  end
  local source = (proxied == "1" and gateway_error == "") and "service" or "kong"
  return count(head .. "|" .. source .. "|" .. rest)
end)

local function var(txn, name)
  local value = txn:get_var(name)
  return value ~= nil and tostring(value) or ""
end

-- The gateway's Lua answers (gateway/kong_errors.lua: 413/417/429 after routing): its action
-- calls this, as HAProxy 2.6 cannot run a converter inside its txn:done(). The options in
-- force are read from the variables the rendered rules set (absent when the option is off).
function kong_metrics_answered(txn, status, body_bytes)
  if txn:get_var("txn.route") == nil then
    return
  end
  local code = txn:get_var("txn.kong_no_codes") == nil and tostring(status) or ""
  local latency, t0 = "|", txn:get_var("txn.kong_t0")
  if t0 ~= nil then
    local now = core.now()
    latency = tostring(math.max(now.sec * 1000 + now.usec // 1000 - tonumber(t0), 0)) .. "|-1"
  end
  local sizes = "|||"
  if txn:get_var("txn.kong_in_head") ~= nil then  -- Kong's answer: its few headers and body
    sizes = var(txn, "txn.kong_in_head") .. "|" .. var(txn, "txn.kong_in_body") .. "|150|"
      .. tostring(body_bytes)
  end
  count(table.concat({ var(txn, "txn.kong_service"), var(txn, "txn.route"),
    var(txn, "txn.kong_consumer"), code, "kong", latency, sizes }, "|"))
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

local function int(n)
  return string.format("%d", n)
end

local function exposition()
  local out = {}
  local function add(s)
    out[#out + 1] = s
  end
  local info = core.get_info()
  local accepted = tonumber(info.CumConns) or 0
  add("# HELP kong_datastore_reachable Datastore reachable from Kong, 0 is unreachable")
  add("# TYPE kong_datastore_reachable gauge")
  add("kong_datastore_reachable 1")  -- DB-less: kong.yml is the datastore
  add("# HELP kong_nginx_connections_total Number of connections by subsystem")
  add("# TYPE kong_nginx_connections_total gauge")
  local node = 'node_id="' .. NODE_ID .. '",subsystem="http",state="'
  add("kong_nginx_connections_total{" .. node .. 'accepted"} ' .. int(accepted))
  add("kong_nginx_connections_total{" .. node .. 'active"} ' .. int(tonumber(info.CurrConns) or 0))
  add("kong_nginx_connections_total{" .. node .. 'handled"} ' .. int(accepted))
  add("kong_nginx_connections_total{" .. node .. 'total"} ' .. int(tonumber(info.CumReq) or 0))
  add("# HELP kong_nginx_requests_total Number of requests total")
  add("# TYPE kong_nginx_requests_total gauge")
  add('kong_nginx_requests_total{node_id="' .. NODE_ID .. '",subsystem="http"} '
    .. int(tonumber(info.CumReq) or 0))
  add("# HELP kong_http_requests_total HTTP status codes per consumer/service/route in Kong")
  add("# TYPE kong_http_requests_total counter")
  for _, k in ipairs(sorted_keys(requests)) do
    add("kong_http_requests_total{" .. k .. "} " .. int(requests[k]))
  end
  add("# HELP kong_bandwidth_bytes Total bandwidth (ingress/egress) throughput in bytes")
  add("# TYPE kong_bandwidth_bytes counter")
  for _, k in ipairs(sorted_keys(bandwidth)) do
    add("kong_bandwidth_bytes{" .. k .. "} " .. int(bandwidth[k]))
  end
  for _, h in ipairs(histograms) do
    add("# HELP " .. h.name .. " " .. h.help)
    add("# TYPE " .. h.name .. " histogram")
    for _, labels in ipairs(sorted_keys(h.series)) do
      local s, cumulative = h.series[labels], 0
      for i, bound in ipairs(h.buckets) do
        cumulative = cumulative + s.counts[i]
        add(h.name .. "_bucket{" .. labels .. ',le="' .. int(bound) .. '"} ' .. int(cumulative))
      end
      add(h.name .. "_bucket{" .. labels .. ',le="+Inf"} ' .. int(s.count))
      add(h.name .. "_count{" .. labels .. "} " .. int(s.count))
      add(h.name .. "_sum{" .. labels .. "} " .. int(s.sum))
    end
  end
  return table.concat(out, "\n") .. "\n"
end

core.register_service("kong_metrics", "http", function(applet)
  local body = exposition()
  applet:set_status(200)
  applet:add_header("content-type", "text/plain; version=0.0.4; charset=utf-8")
  applet:add_header("content-length", string.len(body))
  applet:start_response()
  applet:send(body)
end)
