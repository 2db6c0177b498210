-- wrk: POST /_armsim/clock/advance by one second (a state change: with --data-dir, one durable write).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"by":"1s"}'
