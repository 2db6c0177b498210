-- wrk: POST a backup with a valid key (ARMSIM_KEY) and a fixed blob name.
local key = os.getenv("ARMSIM_KEY") or "missing"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
wrk.body = '{"storageAccount":"contosobackups","containerName":"apim-backups","backupName":"bench",'
  .. '"accessType":"AccessKey","accessKey":"' .. key .. '"}'
