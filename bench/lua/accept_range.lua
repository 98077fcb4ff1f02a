-- POST {prefix}{id}/accept for ids first .. first+count-1, each once, in order (args after
-- `--`: first count [prefix], prefix defaulting to /api/tasks/). If the range runs out the
-- ids come round again and answer 409, which report.lua counts as errors. Headers (the
-- token) from -H. Used by bench/accept_bench.py.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "POST"
local first, count, prefix, i = 0, 1, "/api/tasks/", 0

init = function(args)
  first = tonumber(args[1])
  count = tonumber(args[2])
  prefix = args[3] or prefix
end

request = function()
  local id = first + (i % count)
  i = i + 1
  return wrk.format(nil, prefix .. id .. "/accept")
end
