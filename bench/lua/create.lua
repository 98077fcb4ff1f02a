-- POST /api/tasks: a field visit whose title names one of the 200 counterparties (R2 finds
-- it), a new title on every request. Headers (the token) from -H.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "POST"
wrk.path = "/api/tasks"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local run = tostring(os.time())

request = function()
  n = n + 1
  local body = string.format(
    '{"template":"field_visit","title":"ООО «Клиент %d»: касса не печатает чек (%s-%d)",' ..
    '"description":"Бенчмарк: заявка по телефону."}',
    1 + n % 200, run, n)
  return wrk.format(nil, nil, nil, body)
end
