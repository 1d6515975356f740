"""Pieces every mock shares: the outer request guard (`guard`: admin token, whole bodies,
faults, crash guard, journal), a body reader that refuses cut-off bodies (`body`), slow-client
deadlines and connection limits (`limits`), no-socket transports and a loopback server
(`transports`), the request journal with secret redaction (`journal`) and the fault queue
(`faults`). Nothing here knows any particular federal service."""
