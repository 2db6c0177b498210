-- wrk: GET the paths listed in the file ARMSIM_PATHS (one per line), round robin, each thread from its
-- own offset.
local paths = {}
for line in io.lines(os.getenv("ARMSIM_PATHS")) do
  paths[#paths + 1] = line
end
local i = math.random(#paths)
wrk.headers["Authorization"] = "Bearer bench"
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
