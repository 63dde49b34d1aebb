-- wrk script for benchmarks/load.py: 95% GET /api/me/, 5% POST /api/auth/refresh/.
--
--   wrk -t C -c C -d 15s --latency -s benchmarks/load.lua URL -- TOKENS_FILE [ours|simplejwt]
--
-- Run with one connection per thread (-t equal to -c): each thread's Lua state then owns
-- one token pair (line N of TOKENS_FILE, "access refresh", for thread N) and its requests
-- are sequential, so a refresh never races the thread's own next request. Every 20th
-- request of a thread is a refresh (offset by the thread number, so the threads do not
-- refresh in step); the new access and refresh tokens are taken from the response body.
-- done() prints one line "LOADJSON {...}": counts, non-2xx responses and latency.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

-- Globals, not locals: done() reads the counters through thread:get(), which sees globals.
access, refresh, system = nil, nil, "ours"
n, me_ok, refresh_ok, non2xx, parse_fail = 0, 0, 0, 0, 0
last_kind = "me"
first_error = ""

function init(args)
  local path = args[1]
  system = args[2] or "ours"
  local line_no = 0
  for line in io.lines(path) do
    line_no = line_no + 1
    if line_no == id then
      access, refresh = line:match("^(%S+)%s+(%S+)$")
    end
  end
  if not access then
    error("no token pair for thread " .. id .. " in " .. path)
  end
  n = id
end

function request()
  n = n + 1
  if n % 20 == 0 then
    last_kind = "refresh"
    local headers = { ["Content-Type"] = "application/json" }
    if system == "ours" then
      -- Our refresh answers in the body when the token came in the body; the header is
      -- what a native client sends anyway.
      headers["X-Token-Transport"] = "body"
    end
    return wrk.format("POST", "/api/auth/refresh/", headers, '{"refresh": "' .. refresh .. '"}')
  end
  last_kind = "me"
  return wrk.format("GET", "/api/me/", { ["Authorization"] = "Bearer " .. access })
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = last_kind .. " " .. status .. " " .. string.sub(body or "", 1, 200)
    end
    return
  end
  if last_kind == "refresh" then
    local new_access = body:match('"access"%s*:%s*"([^"]+)"')
    local new_refresh = body:match('"refresh"%s*:%s*"([^"]+)"')
    if new_access and new_refresh then
      access, refresh = new_access, new_refresh
      refresh_ok = refresh_ok + 1
    else
      parse_fail = parse_fail + 1
      if first_error == "" then
        first_error = "refresh body without tokens: " .. string.sub(body, 1, 200)
      end
    end
  else
    me_ok = me_ok + 1
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local totals = { me_ok = 0, refresh_ok = 0, non2xx = 0, parse_fail = 0 }
  local errors = {}
  for _, thread in ipairs(threads) do
    for key in pairs(totals) do
      totals[key] = totals[key] + (thread:get(key) or 0)
    end
    local message = thread:get("first_error")
    if message and message ~= "" then
      table.insert(errors, json_string(message))
    end
  end
  local e = summary.errors
  io.write(string.format(
    'LOADJSON {"requests": %d, "duration_us": %d, "me_ok": %d, "refresh_ok": %d, '
      .. '"non2xx": %d, "parse_fail": %d, "socket_errors": {"connect": %d, "read": %d, '
      .. '"write": %d, "timeout": %d}, "status_errors": %d, "latency_us": {"mean": %.1f, '
      .. '"p50": %d, "p90": %d, "p99": %d, "max": %d}, "errors": [%s]}\n',
    summary.requests, summary.duration, totals.me_ok, totals.refresh_ok, totals.non2xx,
    totals.parse_fail, e.connect, e.read, e.write, e.timeout, e.status, latency.mean,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(errors, ", ")
  ))
end
