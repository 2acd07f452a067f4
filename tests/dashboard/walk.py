"""The dashboard walked in a real headless Chromium, as an operator would.

Run by tests/dashboard.rs against a real `flotilla serve` (simulated
hypervisor), which prepares what the walk needs through the API: the VM
templates `busy` (CPU 95) and `idle` (CPU 5), the network `public`, a user
without rights and a service of oneadmin's she must not see. Each step
saves a screenshot (NN-step.png) into --screenshots.

Every wait is bounded (WebDriverWait); a failure saves 99-failure.png,
prints what the page showed and exits 1. The browser is always quit.
"""

import argparse
import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

SHORT = 30  # seconds: a page or a form answering (a loaded CI machine is slow)
LONG = 90  # seconds: the engine deploying, scaling, recovering


class Walk:
    def __init__(self, args):
        self.args = args
        self.url = args.url.rstrip("/") + "/ui"
        self.step_no = 0
        self.axe_pages = []
        os.makedirs(args.screenshots, exist_ok=True)
        options = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                  "--window-size=1366,768", "--lang=en-US"):
            options.add_argument(a)
        options.binary_location = args.chromium
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The system chromedriver: Selenium Manager downloads nothing.
        self.d = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)
        self.d.set_page_load_timeout(SHORT)
        self.d.set_script_timeout(SHORT)

    # ------------------------------------------------------------ helpers

    def log(self, text):
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def shot(self, name):
        """A screenshot of the whole page (the window grown to its height)."""
        self.step_no += 1
        path = os.path.join(self.args.screenshots, f"{self.step_no:02d}-{name}.png")
        height = self.d.execute_script("return document.documentElement.scrollHeight")
        self.d.set_window_size(1366, max(768, min(int(height) + 20, 6000)))
        self.d.save_screenshot(path)
        self.d.set_window_size(1366, 768)
        self.log(f"step {self.step_no:02d} {name}: {path}")

    def axe(self, page):
        """axe-core on the page as it is: no serious or critical
        violation (the source is injected from --axe, nothing fetched)."""
        if not self.d.execute_script("return typeof window.axe === 'object'"):
            with open(self.args.axe, encoding="utf-8") as f:
                self.d.execute_script(f.read())
        result = self.d.execute_async_script(
            """
            const done = arguments[0];
            axe.run(document, {resultTypes: ['violations']})
              .then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))))
              .catch((e) => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
            """)
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        for v in result:
            self.log(f"axe {page}: {v['impact']} {v['id']}: {v['help']}")
        assert not bad, f"accessibility of {page}: " + json.dumps(bad, indent=1)
        self.axe_pages.append(page)

    def wait(self, what, check, timeout=SHORT):
        """Until check() gives a truthy value (stale elements retried)."""
        def probe(_):
            try:
                return check()
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(probe)
        except TimeoutException:
            raise AssertionError(f"within {timeout} s: {what}") from None

    def css(self, selector, scope=None):
        return (scope or self.d).find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector, scope=None, what=None):
        return self.wait(what or f"an element {selector}", lambda: (self.css(selector, scope) or [None])[0])

    def button(self, text, scope=None):
        """A <button> (or a link styled as one) by its name: its
        aria-label, else its visible text."""
        self.settled()

        def find():
            for el in self.css("button, a.button", scope):
                name = el.get_attribute("aria-label") or el.text.strip()
                if name == text and el.is_displayed():
                    return el
            return None
        return self.wait(f"a button '{text}'", find)

    def no_button(self, text):
        return not any(el.text.strip() == text or el.get_attribute("aria-label") == text
                       for el in self.css("button, a.button"))

    def control(self, label, scope_selector=None):
        """The form control a <label> names (found again each time: the
        template form re-renders when names or types change)."""
        self.settled()

        def find():
            scope = self.css(scope_selector)[0] if scope_selector else self.d
            for lab in scope.find_elements(By.TAG_NAME, "label"):
                if lab.text.strip() == label and lab.get_attribute("for"):
                    return self.d.find_element(By.ID, lab.get_attribute("for"))
            return None
        return self.wait(f"a control labelled '{label}' in {scope_selector or 'the page'}", find)

    def type_in(self, label, value, scope=None):
        # The template form draws itself again after a change: a control
        # replaced under our keys is found again and typed into afresh.
        def act():
            el = self.control(label, scope)
            # Select all and type over it (clear() would leave the field,
            # firing its change before the keys).
            el.send_keys(Keys.CONTROL, "a")
            el.send_keys(str(value) if value != "" else Keys.DELETE)
            el.send_keys(Keys.TAB)  # leave the field: its change is applied
        self.again(act)

    def settled(self):
        """Until the page has run what it deferred (a form drawn again)."""
        self.d.execute_async_script("const done = arguments[0]; setTimeout(done, 0);")

    def again(self, act):
        """act(), again on a control the page replaced meanwhile."""
        for attempt in range(5):
            try:
                return act()
            except StaleElementReferenceException:
                if attempt == 4:
                    raise

    def choose(self, label, text, scope=None):
        self.again(lambda: Select(self.control(label, scope)).select_by_visible_text(text))

    def tick(self, label, on=True, scope=None):
        def act():
            el = self.control(label, scope)
            if el.is_selected() != on:
                el.click()
        self.again(act)

    def heading(self):
        return self.one("main h1").text

    def wait_heading(self, text, timeout=SHORT):
        self.wait(f"the page titled '{text}'", lambda: self.css("main h1") and self.css("main h1")[0].text == text, timeout)

    def service_state(self):
        el = self.css(".state-line [data-state]")
        return el[0].get_attribute("data-state") if el else None

    def vm_ids(self, role):
        return [r.get_attribute("data-vm") for r in self.css(f'article[data-role="{role}"] tbody tr')]

    def vm_state(self, role, vm):
        rows = self.css(f'article[data-role="{role}"] tbody tr[data-vm="{vm}"] td .badge')
        return rows[0].text if rows else None

    def sign_in(self, user, password):
        self.d.get(self.url)
        self.type_in("Username", user)
        self.type_in("Password", password)
        self.button("Sign in").click()
        self.wait(f"{user} signed in", lambda: self.one("#who").text.startswith(user))

    def fetch(self, method, path, csrf):
        """A request from the page's own JavaScript, with its cookie;
        csrf None sends no X-CSRF-Token header."""
        return self.d.execute_async_script(
            """
            const [method, path, csrf, done] = arguments;
            const headers = {'Content-Type': 'application/json'};
            if (csrf !== null) headers['X-CSRF-Token'] = csrf;
            fetch(path, {method, headers, credentials: 'same-origin'})
              .then(async (r) => done({status: r.status, body: await r.text()}))
              .catch((e) => done({status: 0, body: String(e)}));
            """, method, path, csrf)

    def http(self, method, path, headers):
        """A request from outside the browser: its status."""
        req = urllib.request.Request(self.args.url.rstrip("/") + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=SHORT) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def sim(self, method, path, body):
        req = urllib.request.Request(self.args.sim.rstrip("/") + path, method=method,
                                     data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=SHORT) as r:
            return json.loads(r.read() or b"null")

    # ------------------------------------------------------------ the walk

    def run(self):
        a = self.args
        # 1. Sign in.
        self.d.get(self.url)
        self.one("form.signin")
        self.shot("sign-in")
        self.axe("sign-in")
        # A wrong password is refused on the form.
        self.type_in("Username", "oneadmin")
        self.type_in("Password", "not-the-password")
        self.button("Sign in").click()
        refusal = self.wait("the refusal of a wrong password",
                            lambda: next((e for e in self.css(".error") if e.is_displayed() and e.text), None))
        assert "Wrong username or password" in refusal.text, refusal.text
        self.sign_in("oneadmin", a.admin_password)
        self.wait_heading("Services")
        self.shot("services")
        self.axe("services")

        # 2. A template with two roles (db parent of web), a network, a
        # user input of each type and an elasticity policy on db.
        self.d.get(self.url + "#/templates")
        self.button("New template").click()
        self.wait_heading("New service template")
        self.type_in("Name", "shop")
        self.type_in("Description", "A database and a web tier")
        self.tick("Wait for VMs to report READY (ready status gate)", False)

        self.button("Add a network").click()
        self.type_in("Network name", "Public")
        self.type_in("Description", "The public network", scope="fieldset.row")
        self.choose("Default source", "an existing network")
        self.choose("Network", f"public ({a.vnet})")

        r0 = 'fieldset.role[data-role-index="0"]'
        self.type_in("Role name", "db", r0)
        self.choose("VM template", f"busy ({a.busy})", r0)
        self.type_in("Cardinality", 1, r0)
        self.type_in("Min VMs", 1, r0)
        self.type_in("Max VMs", 3, r0)
        self.button("Add an elasticity policy to role db").click()
        pol = r0 + " fieldset.policy"
        self.type_in("Expression", "CPU > 80", pol)
        self.choose("Type", "CHANGE", pol)
        self.type_in("Adjust", 1, pol)
        # Evaluated every 2 s, fires at the first true evaluation, then
        # its long cooldown holds it: the timeline shows both.
        self.type_in("Period (s)", 2, pol)
        self.type_in("Period number", 1, pol)
        self.type_in("Cooldown (s)", 600, pol)

        self.button("Add a role").click()
        r1 = 'fieldset.role[data-role-index="1"]'
        self.type_in("Role name", "web", r1)
        self.choose("VM template", f"idle ({a.idle})", r1)
        self.type_in("Cardinality", 1, r1)
        self.type_in("Min VMs", 1, r1)
        self.type_in("Max VMs", 4, r1)
        self.tick("db", True, r1)
        self.button("Attach a network to role web").click()
        self.button("Attach a network to role web").click()
        self.tick("As an alias", True, r1 + " .nic:nth-of-type(2)")

        inputs = [
            ("ONEAPP_WEB_CONFIG_TITLE", "text", "Site title", True, {"default": "Shop"}),
            ("ONEAPP_WEB_CONFIG_BANNER", "text64", "Banner", False, {}),
            ("ONEAPP_WEB_AUTH_PASSWORD", "password", "Admin password", True, {}),
            ("ONEAPP_DB_TUNE_CONNECTIONS", "number", "Connections", True, {"default": "100"}),
            ("ONEAPP_DB_TUNE_RATIO", "number-float", "Cache ratio", False, {"default": "0.5"}),
            ("WORKERS", "range", "Workers", True, {"min": "1", "max": "8", "default": "2"}),
            ("LOAD_FACTOR", "range-float", "Load factor", False, {"min": "0.5", "max": "2.0", "default": "1.0"}),
            ("SIZE", "list", "Size", True, {"options": "small,medium,large", "default": "small"}),
            ("FEATURES", "list-multiple", "Features", False, {"options": "cache,search,mail"}),
            ("TLS", "boolean", "Serve HTTPS", False, {"default": "YES"}),
        ]
        for i, (name, kind, desc, mandatory, extra) in enumerate(inputs):
            self.button("Add a user input").click()
            row = f'fieldset.user-input[data-input-index="{i}"]'
            self.type_in("Input name", name, row)
            self.choose("Type", kind, row)
            self.type_in("Description", desc, row)
            if "min" in extra:
                self.type_in("Minimum", extra["min"], row)
                self.type_in("Maximum", extra["max"], row)
            if "options" in extra:
                self.type_in("Options", extra["options"], row)
            if "default" in extra:
                self.type_in("Default", extra["default"], row)
            self.tick("Mandatory", mandatory, row)
        for i, (kind, name, title, desc) in enumerate([("APP", "WEB", "Web tier", "How the shop looks"),
                                                      ("GROUP", "CONFIG", "Configuration", "")]):
            self.button("Add metadata").click()
            row = f'fieldset.metadata[data-meta-index="{i}"]'
            self.choose("Kind", kind, row)
            self.type_in("Name", name, row)
            self.type_in("Title", title, row)
            if desc:
                self.type_in("Description", desc, row)
        self.shot("template-form")
        self.axe("template form")
        self.button("Create the template").click()
        self.wait_heading("Service template shop")
        body = json.loads(self.one("pre.json").get_attribute("textContent"))
        assert [r["name"] for r in body["roles"]] == ["db", "web"], body
        assert body["roles"][1]["parents"] == ["db"], body
        assert body["roles"][1]["template_contents"]["NIC"][0]["NETWORK_ID"] == "$Public", body
        assert body["roles"][1]["template_contents"]["NIC_ALIAS"][0]["PARENT"] == "NIC0", body
        assert sorted(s.split("|")[1] for s in body["user_inputs"].values()) == sorted(k for _, k, *_ in inputs), body
        assert body["networks"]["Public"].endswith("||id:" + a.vnet), body
        self.template_id = self.one("dl.facts dd").text
        # The graph: db above web, an edge from db to web.
        self.one('svg.depgraph line.edge[data-from="db"][data-to="web"]')
        self.shot("template")
        self.axe("template")

        # Simulate db's policy on a virtual clock: a bad load shape is
        # refused at its field, then a day of a sine load scales it.
        self.type_in("Load", "wave:1:2", "form.grid")
        self.button("Simulate").click()
        self.wait("the load refused", lambda: "load:" in self.one("section .error").text)
        assert self.one('[data-field="load"]').get_attribute("aria-invalid") == "true"
        self.type_in("Load", "sine:20:250:3600", "form.grid")
        self.type_in("Duration", "6h", "form.grid")
        self.button("Simulate").click()
        summary = self.wait("the simulation's report", lambda: next(
            (p.text for p in self.css(".sim-out p") if p.text.startswith("Role db: scale events")), None), LONG)
        assert not summary.startswith("Role db: scale events 0"), summary
        assert self.css(".sim-out svg.chart polyline.size") and self.css(".sim-out table.list tbody tr")
        self.shot("simulated")

        # Update it: the description changes, nothing else does.
        self.button("Update").click()
        self.wait_heading("Update service template shop")
        self.type_in("Description", "A database and a web tier, updated")
        self.button("Save the template").click()
        self.wait_heading("Service template shop")
        updated = json.loads(self.one("pre.json").get_attribute("textContent"))
        assert updated["description"] == "A database and a web tier, updated", updated
        assert {k: v for k, v in updated.items() if k != "description"} == \
            {k: v for k, v in body.items() if k != "description"}, (body, updated)

        # Clone it with its VM templates, then delete the clone with them.
        self.button("Clone").click()
        dialog = self.one("dialog[open]")
        self.type_in("Name of the copy", "shop-copy", "dialog[open]")
        self.choose("What to clone", "Also its VM templates", "dialog[open]")
        self.button("Clone", dialog).click()
        self.wait_heading("Service template shop-copy")
        copy = json.loads(self.one("pre.json").get_attribute("textContent"))
        copied_vm_templates = sorted(str(r["template_id"]) for r in copy["roles"])
        assert not set(copied_vm_templates) & {a.busy, a.idle}, copy
        self.shot("template-cloned")
        self.button("Delete").click()
        dialog = self.one("dialog[open]")
        self.choose("What to delete", "Also its VM templates", "dialog[open]")
        self.button("Delete", dialog).click()
        self.wait_heading("Service templates")
        self.wait("the list without the copy", lambda: self.css(f'tr[data-id="{self.template_id}"]')
                  and not any(td.text == "shop-copy" for td in self.css("table.list td")))
        for vm_template in copied_vm_templates:
            gone = self.fetch("GET", f"/vm_template/{vm_template}", None)
            assert gone["status"] == 404, f"the copy's VM template {vm_template}: {gone}"
        self.d.get(self.url + f"#/templates/{self.template_id}")
        self.wait_heading("Service template shop")

        # 3. Instantiate through the form: a value out of range first.
        self.button("Instantiate").click()
        self.wait_heading("Instantiate shop")
        # Grouped by OneFlow's convention: app WEB titled by its metadata,
        # group CONFIG titled "Configuration", group AUTH by its name.
        web = self.one('section.app[data-app="WEB"]')
        assert "Web tier" in web.find_element(By.TAG_NAME, "h3").text
        assert self.css('section.app[data-app="WEB"] fieldset[data-group="CONFIG"] legend')[0].text == "Configuration"
        assert self.css('section.app[data-app="DB"] fieldset[data-group="TUNE"]')
        # Typed controls.
        types = {el.get_attribute("data-input"): (el.tag_name, el.get_attribute("type"))
                 for el in self.css("[data-input]")}
        assert types["ONEAPP_WEB_AUTH_PASSWORD"] == ("input", "password"), types
        assert types["WORKERS"] == ("input", "number"), types
        assert types["SIZE"][0] == "select" and types["FEATURES"][0] == "select", types
        assert types["TLS"] == ("input", "checkbox"), types
        workers = self.one('[data-input="WORKERS"]')
        assert (workers.get_attribute("min"), workers.get_attribute("max")) == ("1", "8")
        self.type_in("Service name", "shop-1")
        self.one('[data-input="ONEAPP_WEB_AUTH_PASSWORD"]').send_keys("s3cret")
        self.one('[data-input="ONEAPP_WEB_CONFIG_BANNER"]').send_keys("Welcome")
        workers.send_keys(Keys.CONTROL, "a")
        workers.send_keys("12")
        features = Select(self.one('[data-input="FEATURES"]'))
        features.select_by_visible_text("cache")
        features.select_by_visible_text("mail")
        # web's VM template declares GREETING, which the service does not:
        # asked under "Roles inputs", in web's section.
        greeting = self.one('fieldset.role-inputs [data-input="GREETING"]')
        assert greeting.get_attribute("data-field") == "roles[1].user_inputs_values.GREETING", \
            greeting.get_attribute("data-field")
        greeting.send_keys(Keys.CONTROL, "a")
        greeting.send_keys("hi there")
        self.button("Instantiate").click()
        err = self.wait("the refusal", lambda: next((e for e in self.css(".error") if e.is_displayed() and e.text), None))
        assert "user_inputs_values.WORKERS" in err.text and "outside 1..8" in err.text, err.text
        # The field it names is marked and says why.
        assert self.one('[data-input="WORKERS"]').get_attribute("aria-invalid") == "true"
        assert "outside 1..8" in self.one(".field-error").text
        self.shot("instantiate-refused")
        self.axe("instantiate (refused)")
        assert self.d.execute_script("return location.hash").endswith("/instantiate")
        workers = self.one('[data-input="WORKERS"]')
        workers.send_keys(Keys.CONTROL, "a")
        workers.send_keys("3")
        self.shot("instantiate-form")
        self.button("Instantiate").click()
        self.wait("the service's page", lambda: self.d.execute_script("return /^#\\/services\\/\\d+$/.test(location.hash)"))
        self.service_id = self.d.execute_script("return location.hash.split('/')[2]")
        # Both chosen features reached the service, and web's own input.
        got = json.loads(self.fetch("GET", f"/service/{self.service_id}", None)["body"])["DOCUMENT"]["TEMPLATE"]["BODY"]
        assert got["user_inputs_values"]["FEATURES"] == "cache,mail", got["user_inputs_values"]
        web_role = next(r for r in got["roles"] if r["name"] == "web")
        assert web_role["user_inputs_values"].get("GREETING") == "hi there", web_role.get("user_inputs_values")
        assert "GREETING" not in next(r for r in got["roles"] if r["name"] == "db").get("user_inputs_values", {})
        # Marks this page: a reload would lose it.
        self.d.execute_script("window.__notReloaded = true")

        # 4. Watch it reach RUNNING without reloading.
        seen = []

        def running():
            s = self.service_state()
            if s and (not seen or seen[-1] != s):
                seen.append(s)
            return s == "RUNNING" and len(self.vm_ids("web")) >= 1
        self.wait("the service RUNNING", running, LONG)
        assert seen[0] != "RUNNING", f"states seen: {seen}"
        assert self.d.execute_script("return window.__notReloaded === true"), "the page was reloaded"
        self.log(f"states seen on the page: {' -> '.join(seen)}")
        self.shot("service-running")

        # 5. db's policy scales it to 2 (then its cooldown holds); once the
        # service runs again, scale web by hand and see its new VM.
        self.wait("db scaled by its policy to 2 VMs",
                  lambda: len(self.vm_ids("db")) == 2 and self.service_state() == "RUNNING", LONG)
        before = self.vm_ids("web")
        self.choose("Role to scale", "web")
        self.type_in("Cardinality", 2, "form.scale")
        self.button("Scale").click()
        self.wait("web's new VM RUNNING", lambda: len(self.vm_ids("web")) == 2 and all(
            self.vm_state("web", v) == "RUNNING" for v in self.vm_ids("web")) and self.service_state() == "RUNNING", LONG)
        new = [v for v in self.vm_ids("web") if v not in before]
        assert len(new) == 1, (before, self.vm_ids("web"))
        assert self.css(f'article[data-role="web"] tr[data-vm="{new[0]}"] td')[3].text.startswith("10.")
        self.shot("scaled")

        # 6. The elasticity timeline: the decision that scaled db, and one
        # its cooldown held.
        Select(self.control("Role", ".timeline")).select_by_visible_text("db")

        def decisions():
            return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in self.css("table.decisions tbody tr")]
        self.wait("a decision that scaled db and one its cooldown held", lambda: any(
            d[-1] == "scale to 2" for d in decisions()) and any("cooldown:" in d[6] for d in decisions()), LONG)
        scaled = next(d for d in decisions() if d[-1] == "scale to 2")
        assert "CPU[95] > 80" in scaled[4], scaled
        assert self.css("svg.chart .mark-scaled") and self.css("svg.chart .threshold")
        self.shot("elasticity-timeline")
        self.axe("service with its timeline")

        # 7. A VM fails (the simulated hypervisor says so): the service
        # turns WARNING; Recover replaces the VM.
        failed = self.vm_ids("web")[0]
        self.sim("PUT", f"/vms/{failed}/state", {"state": "FAILED", "reason": "host down"})
        self.wait("the service in WARNING", lambda: self.service_state() == "WARNING", LONG)
        self.wait("the VM shown FAILED", lambda: self.vm_state("web", failed) == "FAILED")
        self.shot("vm-failed")
        self.button("Recover").click()
        self.wait("the failed VM replaced and the service RUNNING", lambda: failed not in self.vm_ids("web")
                  and len(self.vm_ids("web")) == 2 and self.service_state() == "RUNNING", LONG)
        self.shot("recovered")

        # Networks with their leases, plugins with their grants.
        self.d.get(self.url + "#/networks")
        self.wait_heading("Networks")
        self.one("table.list a").click()
        self.wait("the network's leases", lambda: any(
            f"service-{self.service_id}-web" in td.text for td in self.css("table.leases td")))
        self.shot("network-leases")
        self.axe("network")
        self.d.get(self.url + "#/plugins")
        self.wait_heading("Plugins")
        self.one('tr[data-plugin="expression"]')
        self.shot("plugins")
        self.axe("plugins")
        self.d.get(self.url + f"#/services/{self.service_id}")
        self.wait("the service page", lambda: self.service_state() == "RUNNING")

        # 8. A forged change without the CSRF token is refused, with the
        # session's cookie; a read with the same cookie is not.
        hidden = a.hidden_service
        forged = self.fetch("DELETE", f"/service/{hidden}", None)
        assert forged["status"] == 403, forged
        forged = self.fetch("POST", f"/service/{hidden}/action", "not-the-token")
        assert forged["status"] == 403, forged
        read = self.fetch("GET", f"/service/{hidden}", None)
        assert read["status"] == 200, read
        state = json.loads(read["body"])["DOCUMENT"]["TEMPLATE"]["BODY"]["state"]
        assert state == 2, f"the forged request changed the service: {read['body'][:300]}"
        self.log("forged requests without the CSRF token: 403")

        # 9. Delete the service.
        self.button("Delete").click()
        self.wait("the confirmation", lambda: self.css("dialog[open]"))
        self.button("Delete", self.css("dialog[open]")[0]).click()
        self.wait("the service undeploying or gone",
                  lambda: self.service_state() in ("UNDEPLOYING", "GONE"), LONG)
        self.shot("deleting")
        self.wait("the service gone", lambda: self.service_state() == "GONE", LONG)
        self.d.get(self.url + "#/services")
        self.wait_heading("Services")
        self.wait("the list without the deleted service",
                  lambda: self.css(f'tr[data-id="{hidden}"]') and not self.css(f'tr[data-id="{self.service_id}"]'))
        self.shot("deleted")

        # 10. Sign out: the session's cookie opens nothing any more.
        cookie = self.d.get_cookie("flotilla_session")
        assert cookie and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict", cookie
        self.button("Sign out").click()
        self.one("form.signin")
        self.shot("signed-out")
        assert self.http("GET", "/service", {"cookie": f"flotilla_session={cookie['value']}"}) == 401

        # 11. A user without rights sees neither the data nor the buttons.
        self.sign_in(a.user, a.user_password)
        self.wait_heading("Services")
        self.wait("her empty list", lambda: self.css("p.empty") and self.css("p.empty")[0].is_displayed())
        assert not self.css("table.list tbody tr"), "she sees services"
        assert "shop" not in self.one("main").text
        self.shot("no-rights-services")
        self.d.get(self.url + f"#/services/{hidden}")
        self.wait("a refusal", lambda: self.css(".error") and self.css(".error")[0].is_displayed())
        for text in ("Delete", "Recover", "Scale", "Hold"):
            assert self.no_button(text), f"she sees the button {text}"
        assert not self.css("article.role"), "she sees the service's roles"
        self.shot("no-rights-service")
        self.d.get(self.url + "#/templates")
        self.wait_heading("Service templates")
        assert not self.css("table.list tbody tr"), "she sees templates"
        assert self.no_button("Instantiate")
        self.d.get(self.url + f"#/templates/{self.template_id}")
        self.wait("a refusal", lambda: self.css(".error") and self.css(".error")[0].is_displayed())
        for text in ("Instantiate", "Update", "Clone", "Delete"):
            assert self.no_button(text), f"she sees the button {text}"
        self.shot("no-rights-template")
        # Her own forged change is refused too.
        assert self.fetch("DELETE", f"/service_template/{self.template_id}", None)["status"] == 403

    def failure(self):
        try:
            path = os.path.join(self.args.screenshots, "99-failure.png")
            self.d.save_screenshot(path)
            print(f"screenshot of the failure: {path}")
            print("URL:", self.d.current_url)
            text = self.d.find_element(By.TAG_NAME, "main").text
            print("page text:\n" + text[:3000])
            if text.strip().startswith("Loading"):
                print("(the page never got its first answer: a 401 carrying `WWW-Authenticate: Basic` "
                      "makes Chromium wait for credentials instead of answering the page's fetch)")
            for entry in self.d.get_log("browser"):
                print("browser:", entry.get("level"), entry.get("message"))
        except Exception as e:  # the browser itself may be gone
            print(f"(no screenshot: {e})")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True, help="the API's base URL")
    p.add_argument("--sim", required=True, help="the simulated hypervisor's base URL")
    p.add_argument("--admin-password", required=True)
    p.add_argument("--user", required=True, help="a user without rights")
    p.add_argument("--user-password", required=True)
    p.add_argument("--busy", required=True, help="id of the VM template `busy`")
    p.add_argument("--idle", required=True, help="id of the VM template `idle`")
    p.add_argument("--vnet", required=True, help="id of the network `public`")
    p.add_argument("--hidden-service", required=True, help="a RUNNING service of oneadmin's")
    p.add_argument("--screenshots", required=True)
    p.add_argument("--axe", required=True, help="axe-core's axe.min.js")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = p.parse_args()
    started = time.monotonic()
    walk = Walk(args)
    try:
        walk.run()
    except Exception:
        traceback.print_exc()
        walk.failure()
        return 1
    finally:
        walk.d.quit()
    print(f"axe-core: no serious or critical violation on {len(walk.axe_pages)} pages: {', '.join(walk.axe_pages)}")
    print(f"walk done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
