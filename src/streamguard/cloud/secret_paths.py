"""Which repository paths look like credentials, so the SageMaker bundle never ships them.

A path is a secret when one of its folders is in SECRET_DIRS or its file name
matches one of SECRET_NAMES (shell patterns, compared in lower case). Templates
meant to be committed (`.env.example`, `credentials.sample.json`...) are not:
one of their dot-separated name parts is in TEMPLATE_MARKERS.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

# folders that hold credentials wherever they appear in the tree
SECRET_DIRS = frozenset({".aws", ".ssh", ".gnupg", ".docker", ".kube", ".azure", "gcloud"})

SECRET_NAMES = (
    # environment files: .env, .env.local, prod.env, secrets.env, direnv's .envrc
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    # tool credential stores
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".htpasswd",
    ".boto",
    ".s3cfg",
    "credentials*",
    "secrets.*",
    "secret.*",
    "service-account*.json",
    "*.tfvars",
    "*.tfstate",
    # keys and certificates with private parts
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
)

# `.env.example` documents the variables; it holds no values by convention
TEMPLATE_MARKERS = frozenset({"example", "sample", "template", "dist"})


def is_secret_path(rel: str) -> bool:
    """True when the repository-relative path `rel` (folders separated by '/') looks like credentials."""
    parts = rel.lower().strip("/").split("/")
    if any(part in SECRET_DIRS for part in parts[:-1]):
        return True
    name = parts[-1]
    if TEMPLATE_MARKERS & set(name.split(".")[1:]):
        return False
    return name in SECRET_DIRS or any(fnmatchcase(name, pattern) for pattern in SECRET_NAMES)
