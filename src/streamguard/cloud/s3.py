"""S3 helpers the SageMaker launcher and its tests share: URIs, buckets, uploads, the DVC remote.

Every function takes an optional `endpoint_url` (MinIO, a local moto server);
without one boto3 uses its own resolution (`AWS_ENDPOINT_URL`, then AWS).
Credentials always come from boto3's default chain: nothing here reads or
writes keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamguard.errors import StreamGuardError

CREDENTIALS_HINT = (
    "set AWS_PROFILE (after `aws configure` or `aws sso login`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


class CloudError(StreamGuardError):
    """An AWS/S3 problem, said in words: what failed, on what, and what to do."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix')."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise CloudError(f"'{uri}' is not an S3 URI; expected s3://bucket[/prefix]")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise CloudError(f"'{uri}' names no bucket; expected s3://bucket[/prefix]")
    return bucket, key.strip("/")


def join_s3(base: str, *parts: str) -> str:
    """Join S3 URI parts with single slashes."""
    bucket, key = parse_s3_uri(base)
    keys = [k for k in [key, *(p.strip("/") for p in parts)] if k]
    return f"s3://{bucket}/" + "/".join(keys) if keys else f"s3://{bucket}"


def s3_client(endpoint_url: str | None = None, region: str | None = None, session: Any = None) -> Any:
    import boto3

    session = session or boto3.Session(region_name=region)
    return session.client("s3", endpoint_url=endpoint_url or None, region_name=region or session.region_name)


def _explain(exc: Exception, what: str) -> CloudError:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(exc, NoCredentialsError):
        return CloudError(f"{what}: no AWS credentials found; {CREDENTIALS_HINT}")
    if isinstance(exc, NoRegionError):
        return CloudError(f"{what}: no AWS region; pass --region or set AWS_DEFAULT_REGION")
    if isinstance(exc, EndpointConnectionError):
        return CloudError(f"{what}: cannot reach {exc.kwargs.get('endpoint_url', 'the S3 endpoint')}")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "?"), err.get("Message", "")
        hint = ""
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            hint = f"; refresh your credentials ({CREDENTIALS_HINT})"
        elif code in ("403", "AccessDenied", "Forbidden"):
            hint = "; these credentials lack access to it"
        return CloudError(f"{what}: {code} {message}{hint}".rstrip())
    return CloudError(f"{what}: {exc}")


def ensure_bucket(endpoint_url: str | None, bucket: str, region: str | None = None, *, session: Any = None) -> bool:
    """Make sure `bucket` exists; create it when it does not. Returns True when it was created.

    A bucket that exists but that these credentials cannot see (403) is an error,
    and so is a name another account already took.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(endpoint_url, region, session)
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise CloudError(
                f"s3://{bucket} exists but these credentials cannot access it (403); "
                "pick another bucket or ask for s3:ListBucket/s3:PutObject on it"
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise _explain(exc, f"checking s3://{bucket}") from None
    except BotoCoreError as exc:
        raise _explain(exc, f"checking s3://{bucket}") from None
    kwargs: dict[str, Any] = {"Bucket": bucket}
    region = region or client.meta.region_name
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "BucketAlreadyOwnedByYou":
            return False
        if code == "BucketAlreadyExists":
            raise CloudError(f"the bucket name '{bucket}' belongs to another AWS account; pick another") from None
        raise _explain(exc, f"creating s3://{bucket}") from None
    except BotoCoreError as exc:
        raise _explain(exc, f"creating s3://{bucket}") from None
    return True


def upload_file(
    path: str | Path, s3_uri: str, endpoint_url: str | None = None, *, region: str | None = None, session: Any = None
) -> str:
    """Upload one local file to `s3_uri` (the object's full key). Returns the URI."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3_uri(s3_uri)
    if not key:
        raise CloudError(f"'{s3_uri}' names no object key to upload {path} to")
    try:
        s3_client(endpoint_url, region, session).upload_file(str(path), bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise _explain(exc, f"uploading {path} to {s3_uri}") from None
    except Exception as exc:  # boto3's transfer manager wraps ClientError in S3UploadFailedError
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (ClientError, BotoCoreError)):
            raise _explain(cause, f"uploading {path} to {s3_uri}") from None
        raise CloudError(f"uploading {path} to {s3_uri}: {exc}") from None
    return s3_uri


@dataclass(frozen=True)
class DvcRemote:
    """The DVC remote as the repository's config (with .dvc/config.local merged) declares it."""

    name: str
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    # the remote's own credential options (.dvc/config.local), as DVC passes them to boto; never shown
    credentials: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    @property
    def bucket(self) -> str | None:
        return parse_s3_uri(self.url)[0] if self.is_s3 else None


def dvc_remote(repo_root: str | Path = ".", name: str | None = None) -> DvcRemote:
    """Read remote `name` (default: core.remote) through DVC's own config loader.

    Credential options (profile, keys) are kept for a session that sees what DVC sees; nothing shows them.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo(str(repo_root))
    except DvcException as exc:
        raise CloudError(f"{repo_root}: not a DVC repository ({exc}); run from the repository root") from None
    try:
        config = repo.config
        remotes = dict(config.get("remote", {}))
        name = name or config.get("core", {}).get("remote")
    finally:
        repo.close()
    if not name:
        raise CloudError(
            f"{repo_root}/.dvc/config: no default remote (core.remote); "
            "add one with `dvc remote add -d storage s3://bucket/path`"
        )
    if name not in remotes:
        known = ", ".join(sorted(remotes)) or "none"
        raise CloudError(f"{repo_root}/.dvc/config: no DVC remote named '{name}' (known: {known})")
    section = remotes[name]
    return DvcRemote(
        name=name,
        url=str(section["url"]),
        endpoint_url=section.get("endpointurl"),
        region=section.get("region"),
        credentials={k: str(section[k]) for k in CREDENTIAL_OPTIONS if section.get(k)},
    )


# DVC's S3 remote options that choose credentials, in the order boto3 weighs them
CREDENTIAL_OPTIONS = ("access_key_id", "secret_access_key", "session_token", "profile")


def remote_session(remote: DvcRemote) -> Any:
    """A boto3 session with the credentials DVC uses for `remote`: its own keys or profile, else boto3's chain."""
    import boto3

    creds = remote.credentials
    return boto3.Session(
        aws_access_key_id=creds.get("access_key_id"),
        aws_secret_access_key=creds.get("secret_access_key"),
        aws_session_token=creds.get("session_token"),
        profile_name=creds.get("profile"),
        region_name=remote.region,
    )
