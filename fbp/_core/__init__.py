"""The self-contained core of fbp: IPs, channels, ports, components, networks.

Nothing here imports the graph loader, tracing, causal or CLI layers.
"""
