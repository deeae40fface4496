"""Build the optional C accelerator of the traced send (everything else is in pyproject.toml).

The extension is optional: where it cannot be built, fbp runs the same logic in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("fbp._core._accel", ["fbp/_core/_accel.c"], optional=True),
    ]
)
