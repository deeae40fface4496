"""Build the optional C accelerators (everything else is in pyproject.toml): the traced
send, and the trace writer's split of records into columns.

Both are optional: where they cannot be built, fbp runs the same logic in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("fbp._core._accel", ["fbp/_core/_accel.c"], optional=True),
        Extension("fbp.tracing._split", ["fbp/tracing/_split.c"], optional=True),
    ]
)
