"""`streamguard s3-check`: can `dvc push` and `dvc pull` reach the DVC remote, and if not, why, in one line.

The check reads the remote as DVC does (.dvc/config with .dvc/config.local merged),
uses the same credentials (the remote's own keys or profile, else boto3's chain) and
asks S3 three things: is the endpoint there, does the bucket exist in the region the
remote names, may these credentials list it. Each failure is one CloudError line that
says what to run; `--create` makes a missing bucket instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamguard.cloud.s3 import CREDENTIALS_HINT, CloudError, DvcRemote, dvc_remote, ensure_bucket, parse_s3_uri

_NOT_FOUND = ("404", "NoSuchBucket", "NotFound")
_DENIED = ("403", "AccessDenied", "Forbidden")
_BAD_KEYS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken")
_CREDENTIAL_SOURCES = {"explicit": "the remote's keys in .dvc/config.local", "env": "AWS_* variables"}
_MOVED = ("301", "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException")


def _set(remote: DvcRemote, option: str, value: str) -> str:
    return f"`dvc remote modify --local {remote.name} {option} {value}`"


def _client(remote: DvcRemote, session: Any) -> Any:
    from botocore.config import Config

    # one attempt, short timeouts: a check must answer, never hang on a dead endpoint
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=15)
    return session.client("s3", endpoint_url=remote.endpoint_url or None, config=config)


def _where(remote: DvcRemote) -> str:
    return remote.endpoint_url or "AWS S3"


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _bucket_region(exc_or_response: Any) -> str | None:
    meta = getattr(exc_or_response, "response", exc_or_response) or {}
    return meta.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")


def check_remote(repo_root: str | Path = ".", name: str | None = None, *, create: bool = False) -> str:
    """One line saying the remote works, or a CloudError saying in one line what is wrong and what to run."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        ProfileNotFound,
    )

    from streamguard.cloud.s3 import remote_session

    remote = dvc_remote(repo_root, name)
    if not remote.is_s3:
        raise CloudError(f"DVC remote '{remote.name}' is {remote.url}, not S3: nothing to check here")
    bucket, prefix = parse_s3_uri(remote.url)
    where = f"s3://{bucket} ({_where(remote)})"
    try:
        session = remote_session(remote)
    except ProfileNotFound as exc:
        raise CloudError(
            f"DVC remote '{remote.name}': {exc}; fix it with {_set(remote, 'profile', '<name>')} "
            "or `aws configure --profile <name>`"
        ) from None
    creds = session.get_credentials()
    if creds is None:
        raise CloudError(
            f"DVC remote '{remote.name}': no AWS credentials; set {_set(remote, 'access_key_id', '...')} and "
            f"{_set(remote, 'secret_access_key', '...')}, or {CREDENTIALS_HINT}"
        )
    region = remote.region or session.region_name
    client = _client(remote, session)
    created = False
    try:
        try:
            head = client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = _error_code(exc)
            if code not in _NOT_FOUND:
                raise
            if not create:
                raise CloudError(
                    f"{where}: no such bucket; create it with `streamguard s3-check --create` "
                    f"(or `aws s3 mb s3://{bucket}`), or point the remote at yours with "
                    f"{_set(remote, 'url', 's3://<your-bucket>/dvcstore')}"
                ) from None
            created = ensure_bucket(remote.endpoint_url, bucket, region, session=session)
            head = client.head_bucket(Bucket=bucket)
        actual = _bucket_region(head)
        if actual and region and actual != region:
            raise CloudError(
                f"{where}: the bucket is in {actual}, the remote is set to {region}; fix it with "
                f"{_set(remote, 'region', actual)}"
            )
        listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "", MaxKeys=1)
    except EndpointConnectionError:
        raise CloudError(
            f"{where}: cannot reach {_where(remote)}"
            + (
                f"; is the S3 server running? (the remote's endpointurl; {_set(remote, 'endpointurl', '<url>')} "
                f"changes it, `dvc remote modify --local --unset {remote.name} endpointurl` drops it)"
                if remote.endpoint_url
                else "; check the network and the region"
            )
        ) from None
    except NoCredentialsError:
        raise CloudError(f"DVC remote '{remote.name}': no AWS credentials; {CREDENTIALS_HINT}") from None
    except ClientError as exc:
        code = _error_code(exc)
        moved_to = _bucket_region(exc)
        if code in _MOVED or moved_to and region and moved_to != region:
            to = moved_to or "another region"
            raise CloudError(
                f"{where}: the bucket is in {to}, the remote is set to {region}; fix it with "
                f"{_set(remote, 'region', moved_to or '<region>')}"
            ) from None
        if code in _BAD_KEYS:
            raise CloudError(
                f"{where}: AWS does not accept these credentials ({code}); set new ones with "
                f"{_set(remote, 'access_key_id', '...')} and {_set(remote, 'secret_access_key', '...')}"
            ) from None
        if code in _DENIED:
            raise CloudError(
                f"{where}: access denied; the bucket belongs to another account or these credentials lack "
                f"s3:ListBucket, s3:GetObject and s3:PutObject on it (use your own bucket: "
                f"{_set(remote, 'url', 's3://<your-bucket>/dvcstore')})"
            ) from None
        message = exc.response.get("Error", {}).get("Message", "")
        raise CloudError(f"{where}: {code} {message}".rstrip()) from None
    except BotoCoreError as exc:
        raise CloudError(f"{where}: {exc}") from None
    held = "holds data" if listing.get("KeyCount", 0) else "is empty (nothing pushed yet)"
    return (
        f"ok: DVC remote '{remote.name}' at {remote.url} ({_where(remote)}, region {region or 'default'}, "
        f"credentials from {_CREDENTIAL_SOURCES.get(creds.method, creds.method)}): {'bucket created, ' if created else ''}"
        f"readable; {prefix or 'the bucket'} {held}. `dvc push` and `dvc pull` can run"
    )
