"""What a collector run shares: params, the HTTP client, credentials and the exploit list."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from streamguard.data.collectors.exploit_cves import load_exploit_cves
from streamguard.data.collectors.github import GitHub
from streamguard.data.http_client import HttpClient
from streamguard.params import CollectParams, Params


@dataclass
class CollectContext:
    params: Params
    http: HttpClient
    # credentials come from the environment only, never params or files in the repo; repr=False keeps
    # them out of logs and tracebacks that print the context
    nvd_api_key: str | None = field(default_factory=lambda: os.environ.get("NVD_API_KEY") or None, repr=False)
    github_token: str | None = field(default_factory=lambda: os.environ.get("GITHUB_TOKEN") or None, repr=False)

    @classmethod
    def from_params(cls, params: Params) -> CollectContext:
        return cls(params=params, http=HttpClient.from_params(params.collect))

    @property
    def collect(self) -> CollectParams:
        return self.params.collect

    @cached_property
    def github(self) -> GitHub:
        return GitHub(self.http, self.collect.github_api_url, self.github_token)

    @cached_property
    def exploit_cves(self) -> dict[str, list[str]]:
        """CVE id -> ExploitDB ids, from collect.exploitdb_csv (empty when unset)."""
        path = self.collect.exploitdb_csv
        return load_exploit_cves(Path(path)) if path else {}
