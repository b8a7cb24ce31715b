"""Shared fixtures: the device fixture runs unit tests on CUDA too when present."""

import matplotlib
import pytest
import torch

# Tests draw off-screen. (Never export MPLBACKEND=Agg to the notebook kernels: it hides their figures.)
matplotlib.use("Agg")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)
