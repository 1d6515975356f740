"""Pieces every mock shares: no-socket transports and a loopback server (`transports`), the
request journal with secret redaction (`journal`), the fault queue (`faults`) and a capped
request-body reader (`body`). Nothing here knows any particular federal service."""
