"""Runs BlenderProc 2.8.0's API inside a plain venv whose `bpy` is the PyPI wheel (Blender 4.2).

BlenderProc 2.8.0 refuses to be imported outside its own launcher (`blenderproc run`, which
starts a downloaded Blender with its bundled Python): `import blenderproc` raises unless the
launcher's environment variable is set, and then its start-up (`SetupUtility.setup`) pip-installs
its dependencies into that Blender's Python and expects Blender's command line in sys.argv.
In a venv the dependencies are already installed (pip resolved them with blenderproc), so this
shim does what the launcher would, and no more:
  - sets INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT, as the launcher does;
  - replaces `SetupUtility.setup_pip` (the pip step) by returning this venv's site-packages, which
    BlenderProc puts back on sys.path after removing its own parent folder from it;
  - skips one line of `bproc.init()`: it switches Blender's UI language to en_US, a choice the
    wheel lacks (it ships no translations: its only language is DEFAULT, which is English);
  - gives BlenderProc the sys.argv shape the launcher gives (`... --background -- SCRIPT TEMP
    ARGS`), so its temp folder is TEMP and the script sees `SCRIPT ARGS` afterwards.
Import this module first, then `import blenderproc as bproc`.
"""
import importlib.util
import os
import sys
import tempfile
import types

_site = os.path.dirname(os.path.dirname(importlib.util.find_spec("blenderproc").origin))
os.environ["INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT"] = "1"

# Load blenderproc.python.utility.SetupUtility without running blenderproc/__init__.py (a bare
# package object stands in for it), patch it, then let the real package import the patched one.
_pkg_dir = os.path.join(_site, "blenderproc")
_stub = types.ModuleType("blenderproc")
_stub.__path__ = [_pkg_dir]
sys.modules["blenderproc"] = _stub
from blenderproc.python.utility.SetupUtility import SetupUtility  # noqa: E402

SetupUtility.setup_pip = staticmethod(lambda *args, **kwargs: _site)

import inspect  # noqa: E402

from blenderproc.python.utility import Initializer  # noqa: E402

_LANGUAGE = 'if bpy.context.preferences.view.language != "en_US":'
_source = inspect.getsource(Initializer.init)
assert _LANGUAGE in _source, "BlenderProc's init changed: check the shim"
exec(compile(_source.replace(_LANGUAGE, "if False:  # shim: no translations in the wheel"),
             Initializer.__file__, "exec"), Initializer.__dict__)
del sys.modules["blenderproc"]

_temp = os.environ.get("BPROC_TEMP") or tempfile.mkdtemp(prefix="bproc-")
sys.argv = [sys.executable, "--background", "--", sys.argv[0], _temp] + sys.argv[1:]
