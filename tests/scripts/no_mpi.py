"""Runs a script as if mpi4py were not installed: python no_mpi.py SCRIPT ARGS..."""

import importlib.abc
import runpy
import sys


class NoMPI(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mpi4py" or name.startswith("mpi4py."):
            raise ImportError(f"No module named {name!r} (hidden by no_mpi.py)")
        return None


sys.meta_path.insert(0, NoMPI())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
assert "mpi4py" not in sys.modules
print("NO MPI4PY IMPORTED")
