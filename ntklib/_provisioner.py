"""A Jupyter kernel provisioner that encrypts the kernel's transport.

ipykernel warns, for every kernel it starts over TCP without encryption, that
code and outputs travel in plain text. jupyter_client can provision CurveZMQ
keys for kernels whose spec declares ``supported_encryption: ["curve"]`` (the
python3 spec does), but its managers default to ``transport_encryption =
"disabled"``, and the book's executors (myst-nb, nbval, otter) create their
managers without a configuration. This provisioner asks for ``"auto"`` for every
kernel of a spec that names it; ``make`` installs the book's environment with
such a spec (``python -m ntklib._provisioner``), so every notebook the book
executes runs encrypted, and the warning's cause is gone rather than hidden.

Not part of ntklib's API: it is loaded by jupyter_client through the entry point
``jupyter_client.kernel_provisioners: ntklib-encrypted`` only when a kernel spec
names it, so ntklib itself never imports jupyter_client.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

NAME = "ntklib-encrypted"


class EncryptedLocalProvisioner(LocalProvisioner):
    """``LocalProvisioner`` with CurveZMQ transport encryption on by default."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("transport_encryption", "auto")
        return await super().pre_launch(**kwargs)


def install(prefix: str = sys.prefix) -> Path:
    """Make the ``python3`` kernel spec under ``prefix`` use this provisioner."""
    spec = Path(prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    data = json.loads(spec.read_text())
    data.setdefault("metadata", {})["kernel_provisioner"] = {
        "provisioner_name": NAME,
        "config": {},
    }
    spec.write_text(json.dumps(data, indent=1) + "\n")
    return spec


if __name__ == "__main__":
    print(f"python3 kernel spec now uses {NAME}: {install()}")
