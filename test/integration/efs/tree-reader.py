"""Keeps reading a dependency tree through `<set>/current` while versions are switched under it.

Each round: (1) opens `current` once (the symlink resolves to exactly one version folder) and
checks every file of that version against its manifest, by sha256, through the folder's fd;
(2) imports the package afresh with sys.path = [current], as a Lambda function would.
Usage: tree-reader.py SET_DIR MANIFESTS_JSON STOP_FILE; prints a JSON summary at the end.
"""
import hashlib
import importlib
import json
import os
import sys

set_dir, manifests_path, stop_file = sys.argv[1:4]
with open(manifests_path) as handle:
    manifests = json.load(handle)
current = os.path.join(set_dir, "current")
rounds = 0
imports = 0
seen = set()
failures = []

while not os.path.exists(stop_file) and len(failures) < 20:
    rounds += 1
    try:
        folder = os.open(current, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        continue
    try:
        version = None
        with open(os.open(".complete", os.O_RDONLY, dir_fd=folder)) as marker:
            version = json.load(marker)["lockHash"]
        expected = manifests.get(version)
        if expected is None:
            failures.append(f"current is {version}, which is no known version")
        else:
            seen.add(version)
            for relative, digest in expected.items():
                with open(os.open(relative, os.O_RDONLY, dir_fd=folder), "rb") as handle:
                    if hashlib.sha256(handle.read()).hexdigest() != digest:
                        failures.append(f"{version}/{relative} has other bytes")
    except Exception as error:  # a missing file or marker is exactly what must never happen
        failures.append(f"round {rounds}: {type(error).__name__}: {error}")
    finally:
        os.close(folder)
    sys.path[:] = [current] + [entry for entry in sys.path if entry != current]
    for name in [name for name in sys.modules if name == "depset" or name.startswith("depset.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    try:
        module = importlib.import_module("depset")
        if module.VERSION not in manifests:
            failures.append(f"imported depset {module.VERSION}, no known version")
        imports += 1
    except Exception as error:
        failures.append(f"import round {rounds}: {type(error).__name__}: {error}")

print(json.dumps({"rounds": rounds, "imports": imports, "versions": sorted(seen), "failures": failures}))
