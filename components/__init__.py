"""The standard component library of fbp, installed as the ``fbp_components`` package.

Collections (each a module registered in the ``fbp.components`` entry point group):
``core`` (repeat, drop, output, collect, range), ``io`` (files), ``flow`` (routing,
filtering, grouping), ``math`` (arithmetic), ``examples`` (components the example
networks use).
"""
