"""The probe: imports every top-level module of a dependency set on the runtime that will run it.

In AWS this file is the handler of a short-lived Python function created with the set's new
layers attached, its EFS version mounted, or its image as the function itself. Locally the
lambda-deps twin runs this same file with an interpreter of the target's exact Python version,
`-I -S`, and only the artifact's folders on sys.path, so the artifact's layout is what is tested.

Each module is imported in order in this one process, as a cold start would; the result lists
every module with its error (the traceback's last line and its innermost cause) and its time.
"""

import importlib
import json
import platform
import sys
import time
import traceback


def _last_line(error):
    lines = traceback.format_exception_only(type(error), error)
    return " ".join(lines[-1].split()) if lines else type(error).__name__


def _describe(error):
    text = _last_line(error)
    root, seen = error, 0
    while (root.__cause__ or root.__context__) is not None and seen < 20:
        root, seen = root.__cause__ or root.__context__, seen + 1
    if root is not error:
        text += " (caused by " + _last_line(root) + ")"
    return text


def probe(modules, progress=None, trace=None):
    """Import each module; return the per-module results and the whole cold import time.

    `trace`, when given (the local twin), is called after each import; what it returns (the files
    loaded and the names missed since its last call) is added to that module's result.
    """
    results = []
    started = time.perf_counter()
    for name in modules:
        if progress is not None:
            progress(name)
        began = time.perf_counter()
        try:
            importlib.import_module(name)
            error = None
        except BaseException as exc:  # a module may raise anything, SystemExit included
            error = _describe(exc)
        result = {"module": name, "ok": error is None, "error": error, "ms": round((time.perf_counter() - began) * 1000, 2)}
        if trace is not None:
            result["files"], result["missing"] = trace()
        results.append(result)
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "importMs": round((time.perf_counter() - started) * 1000, 2),
        "modules": results,
        "sysPath": list(sys.path),
    }


def handler(event, _context):
    """The Lambda entry point: the event carries the module list."""
    modules = event.get("modules") if isinstance(event, dict) else None
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ValueError("the probe's event must be {\"modules\": [\"name\", ...]}")
    return probe(modules)


def _main():
    # Local twin: argv[1] is {"paths": [...], "modules": [...], "watch": "..."}. Imports print to
    # stderr so that stdout carries only the marked lines: `@@start` before each import, `@@result`
    # at the end. `watch` is the twin's import watcher (core/verify/import-footprints.ts), which
    # defines trace(); the AWS function never gets one.
    request = json.loads(sys.argv[1])
    watch = {}
    if isinstance(request.get("watch"), str):
        exec(request["watch"], watch)  # noqa: S102 - the twin's own code, not the artifact's
    sys.path[:] = list(request["paths"]) + [p for p in sys.path if p]
    out = sys.stdout
    sys.stdout = sys.stderr

    def progress(name):
        out.write("@@start " + json.dumps(name) + "\n")
        out.flush()

    result = probe(request["modules"], progress, watch.get("trace"))
    out.write("@@result " + json.dumps(result) + "\n")
    out.flush()


if __name__ == "__main__":
    _main()
