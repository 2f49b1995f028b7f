-- Errors the gateway makes itself, as Kong 3.9 makes them (loaded by the rendered haproxy.cfg).
--
--   http-request lua.kong_error <status> <message> <mode>
--
-- mode "plugin": kong.response.error (router 404, request-size-limiting 413/417,
--   rate-limiting 429): the format is chosen by Accept, JSON when there is none.
-- mode "nginx": Kong's error handler (nginx's own 400s): Accept, else Content-Type, else
--   Kong's error_default_type (text/plain).
-- Bodies are Kong's templates (kong/tools/http.lua) filled with the message and Kong's
-- request id (txn.kong_rid, also sent as X-Kong-Request-Id). Only refused requests run this:
-- the accepted path never enters Lua (but for gateway/kong_metrics.lua's one converter call).

local JSON = "application/json; charset=utf-8"
local MIME_TYPES = {
  ["text/html"] = "text/html; charset=utf-8",
  ["application/json"] = JSON,
  ["text/plain"] = "text/plain; charset=utf-8",
  ["application/xml"] = "application/xml; charset=utf-8",
  ["application"] = JSON,
  ["text"] = "text/plain; charset=utf-8",
}
local TEMPLATES = {
  [MIME_TYPES["text/html"]] = '<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n'
    .. '    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n'
    .. '    <p>%s.</p>\n    <p>request_id: %s</p>\n  </body>\n</html>\n',
  [JSON] = '{\n  "message":"%s",\n  "request_id":"%s"\n}',
  [MIME_TYPES["text/plain"]] = "%s\nrequest_id: %s\n",
  [MIME_TYPES["application/xml"]] = '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n'
    .. "  <message>%s</message>\n  <requestid>%s</requestid>\n</error>\n",
}
local REASONS = {
  [400] = "Bad Request", [404] = "Not Found", [413] = "Request Entity Too Large",
  [417] = "Expectation Failed", [429] = "Too Many Requests",
}

local function strip(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- kong.tools.http.get_mime_type: a known type, "<family>/*", "*/*"; anything else: JSON.
local function mime_of(media_type)
  local family, sub = media_type:match("^([^/]*)/(.*)$")
  if not family then
    return JSON
  end
  if sub == "*" then
    return family == "*" and JSON or MIME_TYPES[family] or JSON
  end
  return MIME_TYPES[media_type] or JSON
end

-- kong.tools.http.get_response_type: the first entry of the highest quality wins.
local TYPE = "^([%w%*][%w%-!#%$&%^_%+%.]*/[%w%*][%w%-!#%$&%^_%+%.]*)(.*)$"
local function response_type(accept)
  local chosen, best = JSON, 0
  for entry in (accept .. ","):gmatch("([^,]*),") do
    entry = strip(entry)
    local media_type, rest = entry:match(TYPE)
    if media_type then
      local q = 1
      for name, value in rest:gmatch(";%s*([%w%-!#%$&%^_%+%.]+)%s*=?%s*([^;]*)") do
        if name:lower() == "q" then
          local number = value:match("^1%.?0?0?0?$") or value:match("^0%.?%d?%d?%d?$")
          q = number and tonumber(number) or q
        end
      end
      if q > best then
        best = q
        chosen = mime_of(media_type)
      end
    end
  end
  return chosen
end

local function header(txn, name)
  if tonumber(txn.f:req_fhdr_cnt(name)) == 0 then
    return nil
  end
  return txn.sf:req_fhdr(name, 1)  -- the first line, whole, as kong.request.get_header
end

-- Kong's error handler (nginx's errors) without Accept: Content-Type, else text/plain.
local function handler_type(accept, content_type)
  return response_type(accept or content_type or "text/plain")
end

local function body_of(content_type, message, txn)
  return string.format(TEMPLATES[content_type], message, txn:get_var("txn.kong_rid") or "")
end

core.register_action("kong_error", { "http-req" }, function(txn, status, message, mode)
  local code = tonumber(status)
  local accept = header(txn, "accept")
  local content_type
  if mode == "nginx" then
    content_type = handler_type(accept, header(txn, "content-type"))
  else
    content_type = accept and response_type(accept) or JSON
  end
  local body = body_of(content_type, message, txn)
  local reply = txn:reply({
    status = code,
    reason = REASONS[code],
    headers = { ["content-type"] = { content_type } },
    body = body,
  })
  -- Kong's prometheus plugin counts this answer (gateway/kong_metrics.lua, same Lua state):
  -- here, as the after-response rules that count the others cannot run Lua inside done().
  if kong_metrics_answered ~= nil then
    kong_metrics_answered(txn, code, #body)
    txn:set_var("txn.kong_lua_counted", true)
  end
  txn:done(reply)
end, 3)

-- A JSON validator for the jwt plugin's refusal path: Kong's parser (cjson) answers
-- "Bad token; invalid JSON" for a segment that is not JSON, where HAProxy's lenient
-- json_query would go on. Used only in conditions that already refuse the request:
--   { var(txn.jwt_h),lua.kong_json_invalid -m bool }
local value

local function space(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function string_end(s, i)  -- s:sub(i, i) == '"'; the index after the closing quote
  i = i + 1
  while true do
    local c = s:sub(i, i)
    if c == "" or c:byte() < 32 then
      return nil
    elseif c == '"' then
      return i + 1
    elseif c == "\\" then
      local e = s:sub(i + 1, i + 1)
      if e == "u" then
        if not s:sub(i + 2, i + 5):match("^%x%x%x%x$") then
          return nil
        end
        i = i + 6
      elseif e ~= "" and ('"\\/bfnrt'):find(e, 1, true) then
        i = i + 2
      else
        return nil
      end
    else
      i = i + 1
    end
  end
end

local function container(s, i, close, member)
  i = space(s, i + 1)
  if s:sub(i, i) == close then
    return i + 1
  end
  while true do
    if member then
      if s:sub(i, i) ~= '"' then
        return nil
      end
      i = string_end(s, i)
      if not i then
        return nil
      end
      i = space(s, i)
      if s:sub(i, i) ~= ":" then
        return nil
      end
      i = space(s, i + 1)
    end
    i = value(s, i)
    if not i then
      return nil
    end
    i = space(s, i)
    local c = s:sub(i, i)
    if c == close then
      return i + 1
    elseif c ~= "," then
      return nil
    end
    i = space(s, i + 1)
  end
end

value = function(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    return container(s, i, "}", true)
  elseif c == "[" then
    return container(s, i, "]", false)
  elseif c == '"' then
    return string_end(s, i)
  end
  for _, literal in ipairs({ "true", "false", "null" }) do
    if s:sub(i, i + #literal - 1) == literal then
      return i + #literal
    end
  end
  local number = s:match("^-?%d+%.?%d*[eE][-+]?%d+", i) or s:match("^-?%d+%.?%d*", i)
  return number and i + #number or nil
end

core.register_converters("kong_json_invalid", function(text)
  local ok, last = pcall(value, text, space(text, 1))
  return not (ok and last and space(text, last) == #text + 1)
end)
