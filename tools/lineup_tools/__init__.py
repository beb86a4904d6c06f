"""Lineup's tools, outside the service image: the local stack (`devstack`), the `lineup` command-line
client (`cli`), model building, evaluation and calibration (`modelkit`), the demo and the protobuf code
generator. Tools may import the runtime (`lineup`) and the services; nothing there imports a tool."""
