"""`streamguard sagemaker --watch JOB`: a training job's status and its latest metrics, until it ends.

Status comes from DescribeTrainingJob; the metrics are what the job's metric
definitions parsed out of its log (the training loop's progress and epoch lines),
read back from CloudWatch (namespace /aws/sagemaker/TrainingJobs, one series per
host, `<job>/algo-1` for the first instance), falling back to the job's
FinalMetricDataList.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from streamguard.cloud.s3 import CREDENTIALS_HINT, CloudError
from streamguard.errors import StreamGuardError

NAMESPACE = "/aws/sagemaker/TrainingJobs"
ENDED = ("Completed", "Failed", "Stopped")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def latest_metrics(cloudwatch: Any, job: dict[str, Any], now: datetime) -> dict[str, float]:
    """{metric name: its latest value} for every metric with a data point: the job's metric definitions
    and the training loop's (a job launched by another version may name fewer)."""
    from streamguard.cloud.sagemaker import metric_definitions

    defined = [m["Name"] for m in job.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])]
    names = list(dict.fromkeys([*defined, *(m["name"] for m in metric_definitions())]))
    latest: dict[str, float] = {}
    if names:
        start = job.get("TrainingStartTime") or job.get("CreationTime") or now - timedelta(days=1)
        host = f"{job['TrainingJobName']}/algo-1"
        queries = [
            {
                "Id": f"m{i}",
                "Label": name,
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": name,
                        "Dimensions": [{"Name": "Host", "Value": host}],
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            for i, name in enumerate(names)
        ]
        end = (job.get("TrainingEndTime") or now) + timedelta(minutes=5)  # the last minute's bucket, and clock skew
        for first in range(0, len(queries), 500):  # GetMetricData's limit per call
            reply = cloudwatch.get_metric_data(
                MetricDataQueries=queries[first : first + 500],
                StartTime=start,
                EndTime=end,
                ScanBy="TimestampDescending",
            )
            for result in reply.get("MetricDataResults", []):
                if result.get("Values"):
                    latest[result["Label"]] = float(result["Values"][0])
    for item in job.get("FinalMetricDataList", []):
        latest.setdefault(item["MetricName"], float(item["Value"]))
    return latest


def status_line(job: dict[str, Any], metrics: dict[str, float], now: datetime) -> str:
    status, detail = job.get("TrainingJobStatus", "?"), job.get("SecondaryStatus", "")
    start, end = job.get("TrainingStartTime"), job.get("TrainingEndTime")
    ran = ((end or now) - start).total_seconds() if start else None
    parts = [f"{job['TrainingJobName']}: {status}" + (f" ({detail})" if detail and detail != status else "")]
    parts.append(f"ran {_duration(ran)}")
    if job.get("BillableTimeInSeconds") is not None:
        parts.append(f"billable {_duration(job['BillableTimeInSeconds'])}")
    shown = "  ".join(f"{name} {value:g}" for name, value in sorted(metrics.items()))
    return " | ".join(parts) + (f" | {shown}" if shown else " | no metrics yet")


def watch_job(
    name: str,
    region: str,
    *,
    interval_s: float = 60.0,
    say: Callable[[str], None] = print,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Print the job's status and latest metrics whenever they change, until it ends. Returns its final status.

    A failed or stopped job is a StreamGuardError carrying SageMaker's reason.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    session = session or boto3.Session(region_name=region)
    sagemaker, cloudwatch = session.client("sagemaker"), session.client("cloudwatch")
    last = ""
    while True:
        now = datetime.now(UTC)
        try:
            job = sagemaker.describe_training_job(TrainingJobName=name)
            metrics = latest_metrics(cloudwatch, job, now)
        except NoCredentialsError:
            raise CloudError(f"no AWS credentials found: {CREDENTIALS_HINT}") from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            message = err.get("Message", "").lower()
            if err.get("Code") == "ValidationException" and ("not found" in message or "could not find" in message):
                raise CloudError(
                    f"no training job named '{name}' in {region}; list yours with "
                    f"`aws sagemaker list-training-jobs --region {region} --sort-by CreationTime`"
                ) from None
            raise CloudError(f"watching {name}: {err.get('Code')} {err.get('Message')}") from None
        except BotoCoreError as exc:
            raise CloudError(f"watching {name}: {exc}") from None
        line = status_line(job, metrics, now)
        if line.split(" | ran ")[0] + str(metrics) != last:
            say(line)
            last = line.split(" | ran ")[0] + str(metrics)
        status = job.get("TrainingJobStatus", "")
        if status in ENDED:
            if status != "Completed":
                reason = job.get("FailureReason") or "no reason given"
                raise StreamGuardError(
                    f"training job {name} {status.lower()}: {reason}. Logs: CloudWatch {NAMESPACE}, stream {name}/algo-1"
                )
            return status
        sleep(interval_s)
