-- wrk: POST backups as DR clients send them, each with a blob name of its own (valid key: ARMSIM_KEY).
-- One wrk thread (bench/lib.sh's wrkrun), so one counter makes every name distinct.
local key = os.getenv("ARMSIM_KEY") or "missing"
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench"}
local n = 0
request = function()
  n = n + 1
  local body = '{"storageAccount":"contosobackups","containerName":"apim-backups","backupName":"apim-'
    .. string.format("%09d", n) .. '","accessType":"AccessKey","accessKey":"' .. key .. '"}'
  return wrk.format("POST", nil, headers, body)
end
