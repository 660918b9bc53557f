-- benches/api.sh: GET /api/v1/messages/{uuid} for a message picked at random (a fixed
-- seed) from the file DPOST_UUIDS, one UUID a line (the seed program's sample). The bearer
-- token comes in wrk's -H like every other run of the script.
local uuids = {}
for line in io.lines(os.getenv("DPOST_UUIDS")) do
  uuids[#uuids + 1] = line
end
math.randomseed(15)

request = function()
  return wrk.format("GET", "/api/v1/messages/" .. uuids[math.random(#uuids)])
end
