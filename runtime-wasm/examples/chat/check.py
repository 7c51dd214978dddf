"""Opens the example page twice in headless Chromium (through chromedriver's WebDriver API, no
other package) against a running local server, types a line in one tab and checks that both
show it and that both users are online. Used by scripts/wasm-example --check.

    python3 check.py <page url> <realtime url>
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

page, realtime = sys.argv[1], sys.argv[2]
port = 9515 + (int(time.time()) % 1000)
driver = subprocess.Popen([os.environ.get("CHROMEDRIVER", "chromedriver"), f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"


def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")["value"]


def until(what, f, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit(f"check.py: no {what} within {timeout}s")


try:
    for _ in range(50):
        try:
            call("GET", "/status")
            break
        except OSError:
            time.sleep(0.1)
    caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}}}}
    sessions = []
    for name in ["ana", "bo"]:
        s = call("POST", "/session", caps)["sessionId"]
        sessions.append(s)
        call("POST", f"/session/{s}/url", {"url": f"{page}?name={name}&url={realtime}"})
    text = lambda s, id: call("POST", f"/session/{s}/execute/sync", {"script": f"return document.getElementById('{id}').innerText", "args": []})
    for s in sessions:
        until("online status", lambda: text(s, "status") == "online")
    for s in sessions:
        until("both users online", lambda: {"ana", "bo"} <= set(text(s, "online").split()))
    ana = sessions[0]
    field = call("POST", f"/session/{ana}/element", {"using": "css selector", "value": "#text"})
    element = list(field.values())[0]
    call("POST", f"/session/{ana}/element/{element}/value", {"text": "hello from ana\ue007"})
    for s in sessions:
        until("the line in both tabs", lambda: "ana: hello from ana" in text(s, "messages"))
    print("check.py: both tabs online, both users listed, the line shown in both")
finally:
    for s in locals().get("sessions", []):
        try:
            call("DELETE", f"/session/{s}")
        except OSError:
            pass
    driver.terminate()
