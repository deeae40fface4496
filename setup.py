"""Build the optional C accelerators (everything else is in pyproject.toml): the
untraced port operations, the traced send, the trace writer's split of records
into columns, and the trace reader's passes over a run's columns.

All are optional: where they cannot be built, fbp runs the same logic in Python (and a
run says once, as a warning, that the compiled port paths are missing).
"""

from setuptools import Extension, setup

_SLOTS = "fbp/_core/_slots.h"  # read by both port modules

setup(
    ext_modules=[
        Extension(
            "fbp._core._accel", ["fbp/_core/_accel.c"], depends=[_SLOTS], optional=True
        ),
        Extension(
            "fbp._core._fastports", ["fbp/_core/_fastports.c"], depends=[_SLOTS], optional=True
        ),
        Extension("fbp.tracing._split", ["fbp/tracing/_split.c"], optional=True),
        Extension("fbp.tracing._scan", ["fbp/tracing/_scan.c"], optional=True),
    ]
)
