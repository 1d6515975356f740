"""One certification session, in the order `ezhd certify` (a small command over this
package) goes through it. No module here imports a private name of another.

| module | role |
|---|---|
| `launch` | attach to the vendor's mocks (ready file) or start our own; start the reference journal as a subprocess; stop what was started |
| `prepare` | the seed's dataset; registration of the journal at the mocks as its declaration says (ЕСИА client, agent system and provider, showcase source and datamart); preflight; dataset loading; run.json |
| `preflight` | the setup checks made before any test (mocks answer, the journal uses them, test-control token, dataset loaded, driver signs in), each problem naming its cause and fix; also `ezhd sut check --live` |
| `run` | pytest over the conformance package with the results collector and `--only`; reports; the summary and exit code |
| `progress` | one line per requirement as its last test finishes |
| `parallel` | `-j N`: cost-balanced parts, each a complete run in a subprocess, merged into one results.json |
"""
