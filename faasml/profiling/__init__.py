"""`faasml profile`: measuring every variant through a gateway (`measure`) and writing the
profiles file the selector reads (`command`). Tooling, not serving: no function imports it."""
