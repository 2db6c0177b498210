-- wrk: mixed DR traffic for the soak. Each request is, at random, a backup POST (10%) or a restore POST
-- (5%) of a random service soak-0000..soak-(N-1), or a poll (85%) of a Location this thread was given.
-- Expected answers: 202 (accepted / running), 200 (done), 409 (the service is busy). Anything else is an
-- error, counted per status and reported by done().
local services = tonumber(os.getenv("ARMSIM_SERVICES") or "1000")
local key = os.getenv("ARMSIM_KEY") or "missing"
local sub = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-dr"
  .. "/providers/Microsoft.ApiManagement/service/"
local locations, head = {}, 0
-- Globals, so done() can read each thread's with thread:get().
counts = {ok = 0, conflict = 0, errors = 0}
wrk.headers["Authorization"] = "Bearer soak"
wrk.headers["Content-Type"] = "application/json"

local function body(blob)
  return '{"storageAccount":"contosobackups","containerName":"apim-backups","backupName":"' .. blob
    .. '","accessType":"AccessKey","accessKey":"' .. key .. '"}'
end

request = function()
  local r = math.random(100)
  if r <= 15 or #locations == 0 then
    local svc = string.format("soak-%04d", math.random(services) - 1)
    if r <= 5 then
      return wrk.format("POST", sub .. svc .. "/restore?api-version=2024-05-01", nil, body("seed"))
    end
    return wrk.format("POST", sub .. svc .. "/backup?api-version=2024-05-01", nil, body(svc))
  end
  return wrk.format("GET", locations[math.random(#locations)])
end

response = function(status, headers, _)
  if status == 200 or status == 202 then
    counts.ok = counts.ok + 1
  elseif status == 409 then
    counts.conflict = counts.conflict + 1
  else
    counts.errors = counts.errors + 1
    if counts.errors <= 5 then
      io.stderr:write("soak: unexpected status " .. status .. "\n")
    end
  end
  local loc = headers["Location"] or headers["location"]
  if loc then
    local path = loc:match("^https?://[^/]+(/.*)$") or loc
    if #locations < 2000 then
      locations[#locations + 1] = path
    else
      head = head % #locations + 1
      locations[head] = path
    end
  end
end

local threads = {}
setup = function(thread) threads[#threads + 1] = thread end

done = function(summary, _, _)
  local ok, conflict, errors = 0, 0, 0
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    ok, conflict, errors = ok + c.ok, conflict + c.conflict, errors + c.errors
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  io.write(string.format("soak-result ok=%d conflict=%d unexpected_status=%d socket_errors=%d (connect %d, read %d, write %d, timeout %d)\n",
    ok, conflict, errors, socket, e.connect, e.read, e.write, e.timeout))
end
