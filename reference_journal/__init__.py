"""The reference journal: a small but complete regional e-journal (ЭЖД) that meets the base
requirements, with a catalogue of switchable defects each tied to the requirement it breaks.

It reads `specs/` (export tables, OpenAPI files) and reaches the mocks over HTTP only, as a
vendor's journal would; it never imports `conformance`, `mocks` or `fixtures`. The suite
drives it through the test-control API. Run it with `ezhd reference-journal serve`.

Layers (each imports only those above it):

    config, defects, clock         settings, the defect catalogue, the journal's clock
    db, passwords, events          SQLite storage, scrypt hashes + policy, security event log
    accounts, core, diary          accounts/sessions, the rules of who sees what, diary queries
    dataset, sbom, spec            test-control dataset loading, the SBOM, OpenAPI schemas
    api, web, testcontrol          HTTP: on-demand API, own web API + status page, test-control
    slots, app                     the auth/export slots, `create_app(settings)`

Seams for the packages still to come (see `slots.py` for the protocols):

* **auth slot** — module `reference_journal.auth` defining `create_auth(journal) -> AuthSlot`:
  its `routes` are mounted first (ЕСИА sign-in pages and callback), it opens sessions with
  `journal.sessions.open(account_id, method="esia", ip=..., extra=...)`, finds and links
  accounts with `journal.accounts.by_oid / for_person / link_esia / unlink_esia`, finds
  person records in `journal.db` (tables `learners`, `representatives`, `staff`), checks
  consent with `journal.consent_granted(learner_id)`, ages with `journal.under_14(learner)`,
  logs with `journal.events.record(events.SIGN_IN, ...)`, and offers `logout_url(session)`
  that `DELETE /web/api/v1/session` returns (AUTH-11). Settings: `esia_url`, `esia_issuer`,
  `esia_client_id`, `esia_key`, `esia_cert`, `public_url`. It reaches ЕСИА with httpx through
  `journal.http_transport` when one is injected (`Journal(settings, http_transport=...)`).
* **export slot** — module `reference_journal.export` defining
  `create_exporter(journal) -> ExportSlot` (`start`, `job`, `busy`, `reset`,
  `clock_advanced`, optional `startup`/`shutdown`): test-control `startExport`/`getExport`
  delegate to it (501 until it exists). It reads `journal.db.rows(table)` and
  `journal.db.to_typed(...)` (lossless export values), increments from
  `journal.db.changes(after_seq)` (upserts and deletes with the deleted row), marks rows sent
  with `journal.db.mark_sent(...)`, pushes events to the portal (NOTIF-01) and logs with
  `journal.events.record(events.UPLOAD, ...)`. Settings: `agent_url`, `journal_mnemonic`,
  `portal_mnemonic`, `showcase_datamart`, `showcase_url`, `export_channel`.

Both check their defects (`implemented_in` = `auth` / `export` in `defects.py`) with
`journal.defect_on(ID)`.
"""

__version__ = "0.1.0"
