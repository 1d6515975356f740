import sys
from pathlib import Path

# tests/cli_helpers.py, shared with the other CLI tests
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
