"""The book's own tooling: building, checking and grading, never shipped.

Not part of ntklib (whose wheel holds ``ntklib`` only): everything here serves
the repository, run from its root as ``python -m booktools.<module>`` (``-m``
puts the root on ``sys.path``), by the tests (``python -m pytest``) and by the
site build (``_config.yml`` names the extensions under ``local_extensions``
with the path ``.``).

* :mod:`booktools.assignments`: ``make assignments`` (otter assign, the student
  notebooks, the autograders, the released solutions) and reading a master.
* :mod:`booktools.gradebook`: grade a folder of submissions into a CSV.
* :mod:`booktools.robustness`: ``make robustness``, every check over seeds.
* :mod:`booktools.toc`: the notebooks of ``_toc.yml``.
* :mod:`booktools.kernels`: the executors' kernels over CurveZMQ encryption.
* :mod:`booktools.ext`: the Sphinx extensions of the site build.

This module imports nothing, so ``python3 -m booktools.toc`` runs with any
Python 3, outside the book's environment.
"""
