"""The example networks and the data they read, installed as ``fbp._networks``.

``fbp examples`` lists them and copies them (with ``data/``) where a user can run them.
"""
