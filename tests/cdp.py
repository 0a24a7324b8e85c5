"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
the browser reads NUL-terminated JSON commands on fd 3 and writes replies and events on
fd 4), with nothing but the standard library. Used by the browser tests (t_report.py):
load a page, collect every console message, exception and log entry the page causes, run
JavaScript in it and take screenshots.

    with Browser() as br:
        page = br.open("file:///tmp/x.html")       # waits for the load event
        page.errors()                             # console errors, exceptions, error logs
        page.eval("document.title")
        page.screenshot("out.png", full=True)
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium():
    for name in CHROMIUM_CANDIDATES:
        p = shutil.which(name)
        if p:
            return p
    return None


class CDPError(Exception):
    pass


class Browser:
    def __init__(self, width=1280, height=900, timeout=90):
        self.width, self.height, self.timeout = width, height, timeout
        self.exe = find_chromium()
        if not self.exe:
            raise CDPError("chromium not found (make deps installs Debian's chromium)")

    def __enter__(self):
        self.profile = tempfile.mkdtemp(prefix="vx-chromium-")
        cmd_r, cmd_w = os.pipe()   # we write commands, chromium reads fd 3
        res_r, res_w = os.pipe()   # chromium writes fd 4, we read

        def child_fds():
            # move both ends clear of 3 and 4 first, so neither dup2 clobbers the other
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.close(a)
            os.close(b)

        args = [self.exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--mute-audio", "--hide-scrollbars",
                f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}",
                "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child_fds, pass_fds=(3, 4, cmd_r, res_w))
        os.close(cmd_r)
        os.close(res_w)
        self.wfd, self.rfd = cmd_w, res_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        return self

    def __exit__(self, *exc):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.wfd)
        os.close(self.rfd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("timed out waiting for chromium")
            r, _, _ = select.select([self.rfd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise CDPError("chromium closed the pipe (exit status %s)" % self.proc.poll())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=None):
        self.next_id += 1
        mid = self.next_id
        m = {"id": mid, "method": method, "params": params or {}}
        if session:
            m["sessionId"] = session
        data = json.dumps(m).encode() + b"\0"
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._read_message(deadline)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method, session, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = 0
        while True:
            for e in self.events[seen:]:
                if e["method"] == method and e.get("sessionId") == session:
                    return e
            seen = len(self.events)
            msg = self._read_message(deadline)
            if "method" in msg:
                self.events.append(msg)

    def open(self, url):
        t = self.send("Target.createTarget", {"url": "about:blank"})
        s = self.send("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True})["sessionId"]
        page = Page(self, s)
        for dom in ("Page", "Runtime", "Log", "Network"):
            self.send(dom + ".enable", session=s)
        page.mark = len(self.events)
        self.send("Page.navigate", {"url": url}, session=s)
        self.wait_event("Page.loadEventFired", s)
        # let late console messages (layout, SVG attribute parsing) arrive
        self.send("Runtime.evaluate", {"expression": "new Promise(r => requestAnimationFrame(() => "
                                                     "requestAnimationFrame(() => r(1))))", "awaitPromise": True},
                  session=s)
        return page


class Page:
    def __init__(self, br, session):
        self.br, self.s, self.mark = br, session, 0

    def _events(self):
        return [e for e in self.br.events[self.mark:] if e.get("sessionId") == self.s]

    def errors(self):
        """Console errors and assertions, uncaught exceptions, and error-level log entries
        (CSP violations, failed loads, bad SVG attributes), as strings."""
        out = []
        for e in self._events():
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description")))
                                                                    for a in p.get("args", []))))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s" % (d.get("exception", {}).get("description") or d.get("text")))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log (%s): %s" % (p["entry"].get("source"), p["entry"].get("text")))
        return out

    def requests(self):
        """URLs the page requested over the network stack (the document itself included)."""
        return [e["params"]["request"]["url"] for e in self._events() if e["method"] == "Network.requestWillBeSent"]

    def eval(self, expr):
        r = self.br.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                         session=self.s)
        if "exceptionDetails" in r:
            raise CDPError("eval: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def dark(self, on):
        feats = [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]
        self.br.send("Emulation.setEmulatedMedia", {"features": feats}, session=self.s)
        self.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))")

    def screenshot(self, path, full=True):
        params = {"format": "png"}
        if full:
            m = self.br.send("Page.getLayoutMetrics", session=self.s)
            size = m.get("cssContentSize") or m["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": self.br.width, "height": min(size["height"], 16000), "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.br.send("Page.captureScreenshot", params, session=self.s)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
