#!/usr/bin/env python3
"""Seeds the fuzz corpora from the repository's fixtures: every message `text` becomes an
mrkdwn seed, and every (text, blocks) pair a rich_text seed (budget byte, text, NUL, JSON).
Run from anywhere; writes corpus/mrkdwn and corpus/rich_text next to this file."""
import hashlib, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, "..", "..", ".."))
out = {name: os.path.join(here, "corpus", name) for name in ("mrkdwn", "rich_text")}
for d in out.values():
    os.makedirs(d, exist_ok=True)

def put(kind, data):
    with open(os.path.join(out[kind], hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

def walk(v):
    if isinstance(v, dict):
        text = v.get("text")
        if isinstance(text, str):
            put("mrkdwn", text.encode())
            blocks = v.get("blocks")
            if isinstance(blocks, list):
                put("rich_text", b"\x40" + text.encode() + b"\0" + json.dumps(blocks).encode())
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)

n = 0
for base, _, files in os.walk(os.path.join(root, "fixtures")):
    for name in files:
        if name.endswith(".json"):
            try:
                with open(os.path.join(base, name), encoding="utf-8") as f:
                    walk(json.load(f))
                n += 1
            except (ValueError, UnicodeDecodeError):
                pass
print(f"seeded from {n} fixture files: " + ", ".join(f"{k}={len(os.listdir(d))}" for k, d in out.items()), file=sys.stderr)
