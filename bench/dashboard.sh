#!/usr/bin/env bash
# The dashboard's services page with many services, in headless Chromium:
# the time from opening the page (signed in) until its table lists every
# service, and the bytes each resource of the page took (the page, its
# script and style, the session, the services' answer), then the time of
# one refresh (the page asks again every 2 s).
#
#   bench/dashboard.sh [SERVICES]          # default: 1000
#
# Needs what tests/all.sh installs (chromium, chromium-driver, Selenium in
# target/test-tools). Builds nothing: run `cargo build --release` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-"$root/target/release/flotilla"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
python=$root/target/test-tools/bin/python
"$python" -c "import selenium" 2>/dev/null || { echo "tests/all.sh installs Selenium" >&2; exit 1; }
services=${1:-1000}
. "$root/bench/server.sh"

start_server '[engine]\ntick_ms = 100\n\n[sim]\nboot_seconds = 0\n' \
  "${API_PORT:-32594}" "${SIM_PORT:-32595}"
SERVICES=$services API=$api AUTH=$auth UI_URL=${UI_URL:-} "$python" - <<'PY'
import base64, json, os, time, urllib.request
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

api, n = os.environ["API"], int(os.environ["SERVICES"])
ui = os.environ.get("UI_URL") or api  # the browser's way in (a proxy, say)
user, password = os.environ["AUTH"].strip().split(":", 1)
basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": basic})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None

call("POST", "/vm_template", {"name": "small", "template": {"CPU": "1", "MEMORY": "128"}})
call("POST", "/service_template", {"name": "web", "roles": [
    {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]})
for i in range(n):
    call("POST", "/service_template/0/action",
         {"action": {"perform": "instantiate", "params": {"merge_template": {"name": f"web-{i}"}}}})
deadline = time.time() + 600
while time.time() < deadline:
    docs = call("GET", "/service")["DOCUMENT_POOL"].get("DOCUMENT", [])
    if len(docs) == n and all(d["TEMPLATE"]["BODY"]["state"] == 2 for d in docs):
        break
    time.sleep(1)
else:
    raise SystemExit(f"{n} services not RUNNING within 600 s")

options = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768"):
    options.add_argument(a)
d = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
try:
    d.get(ui + "/ui")
    wait = WebDriverWait(d, 120, poll_frequency=0.05)
    field = lambda label: d.find_element(By.ID, wait.until(
        lambda _: d.find_element(By.XPATH, f"//label[text()='{label}']")).get_attribute("for"))
    field("Username").send_keys(user)
    field("Password").send_keys(password)
    d.find_element(By.XPATH, "//button[text()='Sign in']").click()
    wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "#who") and d.find_element(By.ID, "who").text)
    # A fresh load of the services page, signed in (the cookie is kept).
    d.get("about:blank")
    started = time.time()
    d.get(ui + "/ui#/services")
    wait.until(lambda _: len(d.find_elements(By.CSS_SELECTOR, "table.list tbody tr")) == n)
    usable = d.execute_script("return performance.now()")
    wall = time.time() - started
    entries = d.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        return [{name: 'page (/ui)', bytes: nav.transferSize, body: nav.encodedBodySize, ms: nav.duration}]
          .concat(performance.getEntriesByType('resource').map((r) => ({
            name: new URL(r.name).pathname, bytes: r.transferSize, body: r.encodedBodySize, ms: r.duration})));""")
    print(f"{n} services: table complete {usable:.0f} ms after navigation ({wall:.2f} s wall, WebDriver included)")
    total = 0
    for e in entries:
        total += e["bytes"]
        print(f"  {e['name']:<16} {e['bytes']:>10,} bytes on the wire ({e['body']:,} body) in {e['ms']:.0f} ms")
    print(f"  {'total':<16} {total:>10,} bytes")
    # One refresh: the next answer to /service and the table redrawn.
    before = d.execute_script("return performance.getEntriesByType('resource').length")
    wait.until(lambda _: d.execute_script("return performance.getEntriesByType('resource').length") > before)
    refresh = d.execute_script("const r = performance.getEntriesByType('resource'); return r[r.length - 1];")
    print(f"  one refresh: {refresh['transferSize']:,} bytes, answered in {refresh['duration']:.0f} ms")
finally:
    d.quit()
PY
