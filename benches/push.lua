-- wrk script: pushes a ~20 KB MeMo (raw XML) with a unique messageUUID per request, so that
-- every request is a new message that dpost must make durable before answering 200.
-- Usage: see BENCHMARKS.md. Environment: DPOST_AUTH (the Authorization header),
-- DPOST_MEMO (path of the template message; its UUID is replaced).

local counter = 0
local thread_id = 0
local template = nil

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  local f = assert(io.open(os.getenv("DPOST_MEMO") or "benches/memo-20k.xml", "rb"))
  template = f:read("*a")
  f:close()
  -- A different sequence every run and thread, so runs against one store never collide.
  math.randomseed(os.time() * 64 + (id or 0))
  wrk.method = "POST"
  wrk.headers["Authorization"] = os.getenv("DPOST_AUTH") or ""
  wrk.headers["Content-Type"] = "application/xml"
end

function request()
  counter = counter + 1
  local uuid = string.format("%08x-%04x-4000-8000-%012x", id or 0, math.random(0, 65535), counter)
  local body = template:gsub("8C2EA15D%-61FB%-4BA9%-9366%-42F8B194C114", uuid)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("requests %d, errors: status %d, connect %d, read %d, write %d, timeout %d\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
  for _, p in pairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("latency p%g: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
