#!/usr/bin/env python3
"""page_check.py: load a page in headless Chromium and evaluate JavaScript in it, through the
DevTools protocol over a pipe (--remote-debugging-pipe: JSON messages ended by NUL on fds 3 and
4), so no websocket module is needed. Not a test itself (CTest runs tests/cli/*.sh only); the
status page tests use it.

  page_check.py URL --out RESULT.json [--width W --height H] [--wait JS] [--eval NAME=FILE.js]...
                [--screenshot FILE.png] [--timeout SECONDS] [--chromium PATH]

Loads URL at the given viewport, polls the --wait expression until it is truthy, then evaluates
each --eval file (an expression, awaited when it is a promise; its value must be JSON) in order.
Writes {"ready", "results": {NAME: value}, "exceptions": [...], "console_errors": [...]} to
--out. Exit 0 when the page became ready and every evaluation returned, 1 otherwise (the JSON
says why), 2 on a usage error.
"""
import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, chromium, profile, timeout):
        r_chrome, w_ours = os.pipe()   # we write commands, Chromium reads them on fd 3
        r_ours, w_chrome = os.pipe()   # Chromium writes replies and events on fd 4
        # Chromium's ends above fd 4, so that moving them onto 3 and 4 cannot clobber each other
        hi_r, hi_w = os.dup2(r_chrome, 100), os.dup2(w_chrome, 101)
        os.close(r_chrome)
        os.close(w_chrome)
        r_chrome, w_chrome = hi_r, hi_w
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--no-first-run", "--hide-scrollbars", "--mute-audio",
                "--remote-debugging-pipe", "--user-data-dir=" + profile, "about:blank"]

        def fds():
            os.dup2(r_chrome, 3)
            os.dup2(w_chrome, 4)
        # fds 3 and 4 are kept open in the child (close_fds runs after preexec_fn)
        self.proc = subprocess.Popen(args, preexec_fn=fds, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "chromium.log"), "wb"))
        os.close(r_chrome)
        os.close(w_chrome)
        self.w, self.r = w_ours, r_ours
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.deadline = time.monotonic() + timeout

    def left(self):
        return self.deadline - time.monotonic()

    def _read_message(self):
        while b"\0" not in self.buf:
            wait = self.left()
            if wait <= 0:
                raise TimeoutError("no answer from Chromium in time")
            ready, _, _ = select.select([self.r], [], [], wait)
            if not ready:
                continue
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (it exited?)")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        mid = self.next_id
        m = {"id": mid, "method": method, "params": params or {}}
        if session:
            m["sessionId"] = session
        data = json.dumps(m).encode() + b"\0"
        while data:
            n = os.write(self.w, data)
            data = data[n:]
        while True:
            msg = self._read_message()
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass


def evaluate(b, session, expr):
    r = b.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True}, session)
    if "exceptionDetails" in r:
        d = r["exceptionDetails"]
        desc = (d.get("exception") or {}).get("description") or d.get("text")
        raise RuntimeError(f"the script threw: {desc}")
    return (r.get("result") or {}).get("value")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--wait", default="document.readyState === 'complete'")
    ap.add_argument("--eval", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--screenshot")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    a = ap.parse_args()
    evals = []
    for e in a.eval:
        name, _, path = e.partition("=")
        if not path:
            ap.error(f"--eval {e}: NAME=FILE")
        evals.append((name, open(path).read()))

    out = {"url": a.url, "viewport": [a.width, a.height], "ready": False, "results": {},
           "exceptions": [], "console_errors": [], "error": None}
    profile = tempfile.mkdtemp(prefix="rs-page-check.")
    b = None
    try:
        b = Browser(a.chromium, profile, a.timeout)
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        b.call("Runtime.enable", session=session)
        b.call("Page.enable", session=session)
        b.call("Emulation.setDeviceMetricsOverride",
               {"width": a.width, "height": a.height, "deviceScaleFactor": 1, "mobile": False}, session)
        nav = b.call("Page.navigate", {"url": a.url}, session)
        if nav.get("errorText"):
            raise RuntimeError(f"navigating to {a.url}: {nav['errorText']}")
        while b.left() > 0:
            try:
                if evaluate(b, session, f"Boolean({a.wait})"):
                    out["ready"] = True
                    break
            except RuntimeError:
                pass  # the page is still loading
            time.sleep(0.1)
        if not out["ready"]:
            raise TimeoutError(f"the page did not become ready ({a.wait}) within {a.timeout:.0f} s")
        for name, src in evals:
            out["results"][name] = evaluate(b, session, src)
        if a.screenshot:
            shot = b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
    except Exception as e:  # reported in the JSON; the caller decides
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        if b:
            for ev in b.events:
                p = ev.get("params") or {}
                if ev.get("method") == "Runtime.exceptionThrown":
                    d = p.get("exceptionDetails") or {}
                    out["exceptions"].append((d.get("exception") or {}).get("description") or d.get("text"))
                elif ev.get("method") == "Runtime.consoleAPICalled" and p.get("type") == "error":
                    out["console_errors"].append(" ".join(str(x.get("value", x.get("description", ""))) for x in p.get("args", [])))
            b.close()
        shutil.rmtree(profile, ignore_errors=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    sys.exit(0 if out["error"] is None else 1)


if __name__ == "__main__":
    main()
