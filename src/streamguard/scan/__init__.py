"""`streamguard scan`: run the trained detector over a C/C++ codebase and report findings (SARIF, JSON, table)."""
