"""`python -m synthgen_blender REQUEST.json`: render one request in a fresh process.

This is the "fresh process per image" baseline: Blender starts, imports the model, renders one
image and exits. The reply JSON is printed as the last line of stdout; exit code 0 when ok,
1 when the render failed, 2 on usage errors.
"""
import json
import sys


def main(argv):
    if len(argv) != 2:
        print("usage: python -m synthgen_blender REQUEST.json", file=sys.stderr)
        return 2
    from .entry import render_request_file

    reply = render_request_file(argv[1])
    sys.stdout.write(reply + "\n")
    sys.stdout.flush()
    return 0 if json.loads(reply)["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
