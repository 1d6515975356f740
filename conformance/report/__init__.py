"""Reports rendered from one canonical `results.json` (`conformance/results.py`).

One module per format, each reading the view of `model.py` (or the results dict itself):
`html.py` (the HTML report, templates in `templates/`), `seal.py` (the signed certification
package and its verification), `diff.py` (verdict changes between two runs); the JUnit
writer is `conformance/junit.py`. `waivers.py` reads waivers.yaml, `redact.py` removes
secrets from everything shown, `i18n.py` holds the Russian and English texts. The CLI is
`ezhd report` (`conformance/cli/report_cmd.py`).
"""
