"""The kernels the book's executors start, over CurveZMQ-encrypted transport.

ipykernel warns, for every kernel started over TCP without encryption, that
code and outputs travel in plain text (on a shared machine another user can
subscribe to a kernel's output socket). jupyter_client provisions CurveZMQ keys
when a kernel manager's ``transport_encryption`` is ``"auto"`` and the kernel
spec declares ``supported_encryption: ["curve"]`` (ipykernel's does), but its
default is ``"disabled"`` and the executors (myst-nb in the site build, otter
in ``make assignments`` and the gradebook) create their managers without a
configuration. :func:`encrypt` makes ``"auto"`` the default in the process that
runs them: the site build (this module is a Sphinx extension named in
``_config.yml``), :mod:`booktools.assignments` and :mod:`booktools.gradebook`.
(nbval's kernels, started under pytest, keep the default: their output, the
warning included, is captured by pytest.)

It lives here rather than in ntklib, which is a runtime package: a reader who
installs ntklib never starts these executors.
"""

from __future__ import annotations


def encrypt() -> bool:
    """Make ``"auto"`` the default transport encryption of new kernel managers.

    Returns whether it did: ``False`` (and nothing changes) when libzmq lacks
    CurveZMQ, where asking for it would stop every kernel from starting.

    Examples
    --------
    >>> from jupyter_client.manager import KernelManager
    >>> encrypt() == (KernelManager().transport_encryption == "auto")
    True
    """
    import zmq
    from jupyter_client.manager import KernelManager

    if not zmq.has("curve"):
        return False
    KernelManager.class_traits()["transport_encryption"].default_value = "auto"
    return True


def setup(app):
    """Sphinx: encrypt the kernels that myst-nb starts to execute the notebooks."""
    encrypt()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
