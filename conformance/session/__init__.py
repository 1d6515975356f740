"""One certification session, in the order `ezhd certify` goes through it.

| module | role |
|---|---|
| `prepare` | registration of the journal at the mocks as its declaration says (ЕСИА client, agent system and provider, showcase source and datamart) |
| `preflight` | the setup checks made before any test (mocks answer, the journal uses them, test-control token, dataset loaded, driver signs in); each problem names its cause and fix |
"""
