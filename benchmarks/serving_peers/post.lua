-- wrk POST script (from shared/bench/serving/post.lua): body read from $BODY_FILE; prints one JSON summary line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.body = f:read("*a")
f:close()

function done(s, lat, req)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    s.requests, s.duration / 1e6, s.requests / (s.duration / 1e6),
    lat:percentile(50) / 1000, lat:percentile(90) / 1000, lat:percentile(99) / 1000,
    lat.max / 1000, s.errors.connect, s.errors.read, s.errors.write,
    s.errors.status, s.errors.timeout))
end
