#!/usr/bin/env python3
"""The plain client of the load benchmark (bench/load.sh): what `ferry load` does, minus the care.

    load_peer.py BASE_URL NDJSON_DIR [--bundle 100] [--concurrency 2] [--pre-images]

Reads every `*.ndjson` file of NDJSON_DIR (a Ferry run's output), one type after the other
(Organization, Location, Practitioner, Patient, Encounter first when present, then the rest by
name: referenced types first, as a careful hand-written loader would; the test server checks no
references, so the order does not change its work), and POSTs batch Bundles of `--bundle`
`PUT Type/id` entries to BASE_URL, `--concurrency` at a time (threads, one keep-alive
`http.client` connection each). Each resource goes as its NDJSON line, verbatim (the line is
parsed once, for its type and id, and not re-serialized).

On purpose it does none of what Ferry does around the PUTs: no pre-image read, no retry (an entry
answered other than 2xx is counted as failed, a failed request makes the whole Bundle failed),
no journal, no tags, no Provenance. With `--pre-images` it asks the server what Ferry's contract
makes Ferry ask (before each Bundle of PUTs, one batch Bundle of `GET Type/id` for the same ids,
the answers read and dropped): the same server work as a load that can be rolled back, with none
of the client's care. Python 3 standard library only.

Prints one JSON line on stdout: {"tool", "resources", "sent", "failed", "requests",
"duration_ms", "first_errors"}. Exit status 1 when anything failed.
"""

import argparse
import http.client
import json
import os
import queue
import sys
import threading
import time
import urllib.parse

FIRST = ["Organization", "Location", "Practitioner", "Patient", "Encounter"]


def files_in_order(d):
    names = sorted(f for f in os.listdir(d) if f.endswith(".ndjson"))

    def key(name):
        t = name[: -len(".ndjson")]
        return (FIRST.index(t) if t in FIRST else len(FIRST), t)

    return [os.path.join(d, f) for f in sorted(names, key=key)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("dir")
    ap.add_argument("--bundle", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--pre-images", action="store_true")
    a = ap.parse_args()

    url = urllib.parse.urlsplit(a.base)
    if url.scheme != "http":
        sys.exit("load_peer.py speaks plain http only (a test server on this machine)")
    path = url.path.rstrip("/") or "/"
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}

    work = queue.Queue(maxsize=2 * a.concurrency)
    lock = threading.Lock()
    tally = {"sent": 0, "failed": 0, "requests": 0, "errors": []}

    def note_error(msg):
        if len(tally["errors"]) < 5:
            tally["errors"].append(msg)

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=300)
        while True:
            item = work.get()
            if item is None:
                return
            n, body, reads = item
            ok = 0
            err = None
            try:
                if reads is not None:
                    conn.request("POST", path, body=reads, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status != 200:
                        raise http.client.HTTPException(f"pre-image batch answered HTTP {resp.status}")
                    with lock:
                        tally["requests"] += 1
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    err = f"HTTP {resp.status}: {data[:200]!r}"
                else:
                    answer = json.loads(data)
                    for e in answer.get("entry", []):
                        status = str(e.get("response", {}).get("status", ""))
                        if status.startswith("2"):
                            ok += 1
                        elif err is None:
                            err = f"entry answered {status}"
            except (OSError, http.client.HTTPException, ValueError) as e:
                err = f"{type(e).__name__}: {e}"
                conn.close()  # reconnects on the next request; this Bundle is not resent
            with lock:
                tally["requests"] += 1
                tally["sent"] += ok
                tally["failed"] += n - ok
                if err:
                    note_error(err)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    resources = 0

    def enqueue(chunk, refs):
        body = ('{"resourceType":"Bundle","type":"batch","entry":[%s]}' % ",".join(chunk)).encode()
        reads = None
        if a.pre_images:
            gets = ",".join('{"request":{"method":"GET","url":"%s"}}' % r for r in refs)
            reads = ('{"resourceType":"Bundle","type":"batch","entry":[%s]}' % gets).encode()
        work.put((len(chunk), body, reads))

    for f in files_in_order(a.dir):
        chunk = []
        refs = []
        with open(f, "r", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                ref = f'{r["resourceType"]}/{r["id"]}'
                chunk.append(
                    '{"fullUrl":"%s","resource":%s,"request":{"method":"PUT","url":"%s"}}' % (ref, line, ref)
                )
                refs.append(ref)
                if len(chunk) >= a.bundle:
                    resources += len(chunk)
                    enqueue(chunk, refs)
                    chunk, refs = [], []
        if chunk:  # a type's last Bundle; the next type's Bundles follow without waiting
            resources += len(chunk)
            enqueue(chunk, refs)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    ms = round((time.perf_counter() - t0) * 1000)
    print(
        json.dumps(
            {
                "tool": "load_peer.py" + (" --pre-images" if a.pre_images else ""),
                "resources": resources,
                "sent": tally["sent"],
                "failed": tally["failed"],
                "requests": tally["requests"],
                "duration_ms": ms,
                "first_errors": tally["errors"],
            }
        )
    )
    return 1 if tally["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
