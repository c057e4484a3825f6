"""The chorus binary (CHORUS_BIN) as a child process, for the Python suites
(`tests/clients`, `tests/console`): started on a free port with a fresh data
dir, stopped with SIGTERM, which must end it cleanly."""

import os
import re
import signal
import subprocess
import tempfile
import threading


class ChorusProcess:
    def __init__(self, extra_env=None, prefix="chorus-"):
        binary = os.environ.get("CHORUS_BIN", "target/debug/chorus")
        self.data_dir = tempfile.mkdtemp(prefix=prefix)
        env = dict(os.environ, CHORUS__LOG__FORMAT="text", CHORUS__RATE_LIMITS__AUTH="1000", **(extra_env or {}))
        self.proc = subprocess.Popen(
            [binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", self.data_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        found = threading.Event()
        address = {}

        def read():
            for line in self.proc.stdout:
                m = re.search(r"listening on (http://\S+)", line)
                if m and not found.is_set():
                    address["url"] = m.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(60):
            self.proc.kill()
            raise RuntimeError("chorus did not start")
        self.url = address["url"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0
