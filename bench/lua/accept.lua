-- POST /api/tasks/{id}/accept over the task ids in the file named after `--`, one per line,
-- each once; if the list runs out the ids come round again and answer 409, which the
-- Python side sees as errors and reports. Headers (the token) from -H.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "POST"
local ids = {}
local i = 0

init = function(args)
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
end

request = function()
  i = i + 1
  return wrk.format(nil, "/api/tasks/" .. ids[(i - 1) % #ids + 1] .. "/accept")
end
