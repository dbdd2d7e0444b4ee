"""The web console in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium): sign in, create an environment and a service through the forms generated from the
templates' schemas, see a validation error next to its field, watch deployment logs reach
SUCCEEDED live, publish a new minor version, update an instance from the overview's "behind"
list, check what a viewer sees and may do, sign out. Screenshots of each page go to SHOTS.

Environment: CONSOLE_URL, ADMIN_KEY_ID/ADMIN_SECRET, VIEWER_KEY_ID/VIEWER_SECRET, SHOTS,
CHROMIUM, CHROMEDRIVER.
"""
import base64
import hashlib
import hmac
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["CONSOLE_URL"]
SHOTS = os.environ["SHOTS"]
os.makedirs(SHOTS, exist_ok=True)
shot_no = [0]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def browser(width, height):
    o = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"]:
        o.add_argument(a)
    o.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=o)


d = browser(1280, 1000)
wait = WebDriverWait(d, 30)


def shot(name):
    shot_no[0] += 1
    path = os.path.join(SHOTS, f"{shot_no[0]:02d}-{name}.png")
    d.save_screenshot(path)
    print("screenshot", path)


def go(path):
    d.get(URL + path)


def present(by, sel):
    """The element once the page that has it has loaded (a click that navigates returns before the new page is there)."""
    return wait.until(EC.element_to_be_clickable((by, sel)))


def text(css):
    return d.find_element(By.CSS_SELECTOR, css).text


def wait_text(css, needle, timeout=60):
    WebDriverWait(d, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), needle))


def sign_in(key, secret, keyboard=False):
    go("/")
    check("/sign-in" in d.current_url, f"a visitor is sent to sign in, got {d.current_url}")
    d.find_element(By.ID, "key_id").send_keys(key)
    if keyboard:
        # Keyboard only: Tab from the key field to the secret, then Enter submits.
        d.switch_to.active_element.send_keys(Keys.TAB)
        check(d.switch_to.active_element.get_attribute("id") == "secret", "Tab moves to the secret field")
        d.switch_to.active_element.send_keys(secret + Keys.ENTER)
    else:
        d.find_element(By.ID, "secret").send_keys(secret)
        d.find_element(By.ID, "sign-in").click()
    wait.until(EC.presence_of_element_located((By.ID, "sign-out")))


def sign_out():
    d.find_element(By.ID, "sign-out").click()
    wait.until(EC.presence_of_element_located((By.ID, "key_id")))
    go("/environments")
    check("/sign-in" in d.current_url, "after signing out the console asks to sign in again")


def follow_deployment_from_history():
    """Opens the newest deployment in the page's history and waits for its live log to end."""
    d.find_element(By.CSS_SELECTOR, "table a[href^='/deployments/']").click()
    wait_text("#deployment-status", "SUCCEEDED", 90)
    check(len(text("#log").strip()) > 0, "the deployment log is shown")


# --- A wrong secret is refused; then sign in with the keyboard only.
go("/sign-in")
d.find_element(By.ID, "key_id").send_keys(os.environ["ADMIN_KEY_ID"])
d.find_element(By.ID, "secret").send_keys("wrong-secret")
d.find_element(By.ID, "sign-in").click()
wait_text("#sign-in-error", "wrong secret")
shot("sign-in-refused")
sign_in(os.environ["ADMIN_KEY_ID"], os.environ["ADMIN_SECRET"], keyboard=True)
check("admin" in text(".who"), "the header shows the role")
shot("overview-empty")

# --- Create an environment from the generated form; a bad input first.
go("/environments")
d.find_element(By.ID, "new-environment").click()
Select(present(By.ID, "template-pick")).select_by_visible_text("example-env")
d.find_element(By.ID, "choose-template").click()
wait.until(EC.presence_of_element_located((By.ID, "create-form")))
check(d.find_element(By.CSS_SELECTOR, "label[for='in.cidr']").text.startswith("cidr"), "the schema's inputs become fields")
check("The address range" in text("#in\\.cidr-help"), "the field shows the schema's description")
tier = Select(d.find_element(By.ID, "in.tier"))
check([o.text for o in tier.options][1:] == ["development", "staging", "production"], f"the enum becomes a menu: {[o.text for o in tier.options]}")
d.find_element(By.ID, "name").send_keys("dev")
d.find_element(By.ID, "in.cidr").send_keys("not-a-cidr")
d.find_element(By.ID, "create-submit").click()
wait.until(EC.presence_of_element_located((By.ID, "in.cidr-error")))
err = text("#in\\.cidr-error")
check("pattern" in err or "match" in err, f"the validation error names the rule: {err}")
check(d.find_element(By.ID, "in.cidr").get_attribute("value") == "not-a-cidr", "what was typed is kept")
check(d.find_element(By.ID, "in.cidr").get_attribute("aria-invalid") == "true", "the field is marked invalid for assistive technology")
shot("environment-form-validation-error")
field = d.find_element(By.ID, "in.cidr")
field.clear()
field.send_keys("10.20.0.0/16")
tier = Select(d.find_element(By.ID, "in.tier"))
tier.select_by_visible_text("development")
d.find_element(By.ID, "create-submit").click()
wait.until(EC.url_contains("/environments/dev"))
shot("environment-page")
follow_deployment_from_history()
shot("environment-deployment-succeeded")
go("/environments/dev")
check("SUCCEEDED" in text("#status"), "the environment is deployed")
check("10.20.0.0/16" in d.find_element(By.TAG_NAME, "main").text, "the spec holds the typed input")

# --- Create a service with two instances and its pipeline.
go("/services")
d.find_element(By.ID, "new-service").click()
Select(present(By.ID, "template-pick")).select_by_visible_text("example-svc")
d.find_element(By.ID, "choose-template").click()
present(By.LINK_TEXT, "Add another instance").click()
wait.until(EC.presence_of_element_located((By.ID, "i1-name")))
d.find_element(By.ID, "name").send_keys("web")
for n, port in [(0, "8081"), (1, "70000")]:
    d.find_element(By.ID, f"i{n}-name").send_keys(f"web-{n}")
    Select(d.find_element(By.ID, f"i{n}-environment")).select_by_visible_text("dev")
    d.find_element(By.ID, f"i{n}.port").send_keys(port)
d.find_element(By.ID, "pipeline.branch").send_keys("release")
d.find_element(By.ID, "create-submit").click()
wait.until(EC.presence_of_element_located((By.ID, "i1.port-error")))
port_error = text("#i1\\.port-error")
check("65535" in port_error, f"the second instance's port is refused next to it: {port_error}")
check(len(d.find_elements(By.ID, "i0.port-error")) == 0, "the valid port has no error")
d.execute_script("document.getElementById('i1.port-error').scrollIntoView({block: 'center'})")
shot("service-form-validation-error")
port = d.find_element(By.ID, "i1.port")
port.clear()
port.send_keys("8082")
d.find_element(By.ID, "create-submit").click()
wait.until(EC.url_contains("/services/web"))
shot("service-page")
follow_deployment_from_history()
for n in (0, 1):
    go(f"/services/web/instances/web-{n}")
    WebDriverWait(d, 90).until(lambda drv: "SUCCEEDED" in drv.find_element(By.ID, "status").text or drv.refresh())
check("1.0" == text("#version"), "the instance runs 1.0")
shot("instance-page")
go("/services/web")
WebDriverWait(d, 90).until(lambda drv: "SUCCEEDED" in drv.find_element(By.ID, "pipeline-status").text or drv.refresh())
check("release" in d.find_element(By.TAG_NAME, "main").text, "the pipeline input reached the spec")

# --- A new minor version: publish the draft from the template page.
go("/templates/service/example-svc")
shot("template-page")
d.find_element(By.XPATH, "//table[@id='versions']//tr[td/a[text()='1.1']]//button").click()
wait_text("#recommended", "1.1")
check(len(d.find_elements(By.CSS_SELECTOR, "form.preview input")) >= 3, "the template page shows the inputs form")
shot("template-published")

# --- The overview lists the instances behind; update one to the new minor from there.
go("/")
wait.until(EC.presence_of_element_located((By.ID, "behind")))
check("BEHIND_MINOR" in text("#behind"), "instances on 1.0 are behind a minor")
shot("overview-behind")
d.find_element(By.CSS_SELECTOR, "tr[data-instance='web/web-0'] button.update-minor").click()
wait.until(EC.url_contains("/deployments/"))
wait_text("#deployment-status", "SUCCEEDED", 90)
check("1.1" in text("#log") or len(text("#log")) > 0, "the update's log is shown")
shot("update-deployment-succeeded")
go("/services/web/instances/web-0")
check(text("#version") == "1.1", f"the instance now runs 1.1, shows {text('#version')}")
go("/")
check("web/web-0" not in text("#behind"), "the updated instance left the behind list")
check("web/web-1" in text("#behind"), "the other instance is still behind")

# --- Update the other instance from its own page: new version and a changed input together.
go("/services/web/instances/web-1")
Select(d.find_element(By.ID, "version-pick")).select_by_visible_text("1.1")
d.find_element(By.CSS_SELECTOR, "form.filters button").click()
wait.until(EC.text_to_be_present_in_element((By.ID, "update-submit"), "1.1"))
check(d.find_element(By.ID, "in.port").get_attribute("value") == "8082", "the form starts from the instance's inputs")
greeting = d.find_element(By.ID, "in.greeting")
greeting.send_keys("x" * 120)
d.find_element(By.ID, "update-submit").click()
wait.until(EC.presence_of_element_located((By.ID, "in.greeting-error")))
check("100" in text("#in\\.greeting-error"), "a too long greeting is refused next to its field")
d.execute_script("document.getElementById('in.greeting-error').scrollIntoView({block: 'center'})")
shot("instance-update-validation-error")
greeting = d.find_element(By.ID, "in.greeting")
greeting.clear()
greeting.send_keys("howdy")
d.find_element(By.ID, "update-submit").click()
wait.until(EC.url_contains("/deployments/"))
wait_text("#deployment-status", "SUCCEEDED", 90)
go("/services/web/instances/web-1")
check(text("#version") == "1.1", "web-1 moved to 1.1 from its page")

# --- Every list and page renders; screenshots of each.
for path, name in [("/templates", "templates"), ("/environments", "environments"), ("/instances?currency=BEHIND", "instances-behind"),
                   ("/pipelines", "pipelines"), ("/components", "components"), ("/deployments", "deployments"), ("/services", "services")]:
    go(path)
    check(d.find_element(By.TAG_NAME, "h1").text != "", f"{path} renders")
    shot(name)

# --- On a phone: nothing wider than the screen.
d.set_window_size(390, 844)
for path, name in [("/", "phone-overview"), ("/services/web/instances/web-1", "phone-instance")]:
    go(path)
    overflow = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, f"{path} fits a phone screen (overflow {overflow}px)")
    shot(name)
d.set_window_size(1280, 1000)
sign_out()
shot("signed-out")

# --- A viewer sees everything and can change nothing.
sign_in(os.environ["VIEWER_KEY_ID"], os.environ["VIEWER_SECRET"])
check("viewer" in text(".who"), "the header shows the viewer role")
go("/environments")
check(len(d.find_elements(By.ID, "new-environment")) == 0, "no create link for a viewer")
go("/services")
check(len(d.find_elements(By.ID, "new-service")) == 0, "no create link for a viewer")
go("/services/web/instances/web-1")
check(len(d.find_elements(By.ID, "update-form")) == 0, "no update form for a viewer")
check("web-1" in d.find_element(By.TAG_NAME, "h1").text, "but the instance is shown")
go("/")
check(len(d.find_elements(By.CSS_SELECTOR, "button.update-minor")) == 0, "no update buttons for a viewer")
go("/templates/service/example-svc")
check(len(d.find_elements(By.CSS_SELECTOR, "#versions button")) == 0, "no publish buttons for a viewer")
shot("viewer-instance")
cookie = d.get_cookie("deuteron_session")["value"]
sign_out()

# Direct posts with the viewer's session and a valid CSRF token are refused, and change nothing.
key_id, expires, _ = cookie.split(".", 2)
mac = hmac.new(os.environ["VIEWER_SECRET"].encode(), f"deuteron-console/csrf\n{key_id}\n{expires}".encode(), hashlib.sha256).digest()
csrf = base64.urlsafe_b64encode(mac).decode().rstrip("=")


def post(path, fields):
    req = urllib.request.Request(URL + path, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                 headers={"Cookie": f"deuteron_session={cookie}"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


for path, fields, op in [
    ("/environments/new", {"template": "example-env", "version": "1.0", "name": "sneaky", "_csrf": csrf}, "CreateEnvironment"),
    ("/services/new", {"template": "example-svc", "version": "1.1", "name": "sneaky", "count": "1", "i0-name": "a", "i0-environment": "dev", "_csrf": csrf}, "CreateService"),
    ("/services/web/instances/web-1/update", {"version": "1.0", "_csrf": csrf}, "UpdateServiceInstance"),
    ("/templates/service/example-svc/versions/1.1/publish", {"_csrf": csrf}, "UpdateServiceTemplateVersion"),
]:
    status, body = post(path, fields)
    check(status == 403 and f"a viewer key may not {op}" in body, f"POST {path} as a viewer: {status} {body[:300]}")
# Without the CSRF token even an admin-looking post is refused.
status, body = post("/environments/new", {"template": "example-env", "version": "1.0", "name": "sneaky"})
check(status == 403 and "did not come from the console" in body, f"POST without CSRF: {status}")
d.quit()
print("console scenario passed")
