import os

# A pytest-xdist worker starts with COLUMNS set (80): the CLI's rich console would fix its width at import, and
# tests that give the CLI a wider terminal (CliRunner terminal_width) would read tables wrapped at 80 columns.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
