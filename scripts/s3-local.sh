#!/usr/bin/env bash
# The README's S3 walk-through against a local S3 server (moto on 127.0.0.1): no AWS account.
#
#   make s3-local            (or: bash scripts/s3-local.sh, with dvc, streamguard and moto_server on PATH)
#
# In a temporary folder: clone this repository's HEAD, point its DVC remote at a bucket on
# the local server (--local options only), check it, create the bucket, run the cheap
# stages up to STAGE (default: preprocess), `dvc push`; then a second clone of the first
# `dvc pull`s the same stage and the two clones' outputs are compared byte for byte.
# Nothing in this checkout changes. S3_LOCAL_KEEP=1 keeps the folder and prints its path.
set -euo pipefail

STAGE="${STAGE:-preprocess}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for tool in git dvc streamguard moto_server; do
    command -v "$tool" >/dev/null || { echo "s3-local: '$tool' is not on PATH; run it as 'make s3-local'" >&2; exit 2; }
done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/streamguard-s3-local.XXXXXX")"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"
BUCKET=streamguard-local

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO=$!
cleanup() {
    kill "$MOTO" 2>/dev/null || true
    if [ "${S3_LOCAL_KEEP:-0}" = 1 ]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
    kill -0 "$MOTO" 2>/dev/null || { cat "$WORK/moto.log" >&2; echo "s3-local: moto_server did not start" >&2; exit 1; }
    sleep 0.1
done

# no AWS variables or profile files of this machine take part: only the remote's --local options
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_CONFIG_FILE=/nonexistent/aws-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials
export AWS_EC2_METADATA_DISABLED=true DVC_NO_ANALYTICS=1

point_remote() {
    run dvc remote modify --local storage url "s3://$BUCKET/dvcstore"
    run dvc remote modify --local storage endpointurl "$ENDPOINT"
    run dvc remote modify --local storage region us-east-1
    run dvc remote modify --local storage access_key_id testing
    run dvc remote modify --local storage secret_access_key testing
}

step "1. a clone, its remote pointed at a bucket on the local S3 server ($ENDPOINT)"
run git clone -q "$REPO" "$WORK/first"
cd "$WORK/first"
point_remote
step "2. the check finds no bucket yet"
run streamguard s3-check || true
step "3. create the bucket"
run streamguard s3-check --create
step "4. something to push: dvc repro $STAGE (and the stages it needs)"
run dvc repro -q "$STAGE"
run git -c user.name=s3-local -c user.email=s3-local@localhost commit -qam "dvc.lock after dvc repro $STAGE" --allow-empty
step "5. dvc push"
run dvc push
run streamguard s3-check

step "6. a second clone (a teammate, after git pull) fetches the data"
run git clone -q "$WORK/first" "$WORK/second"
cd "$WORK/second"
point_remote
run dvc pull --with-deps "$STAGE"
step "7. both clones hold the same bytes"
# the stage's outputs, as the first clone's dvc.lock lists them
mapfile -t OUTS < <(python3 -c 'import sys, yaml; print("\n".join(o["path"] for o in yaml.safe_load(open(sys.argv[1]))["stages"][sys.argv[2]]["outs"]))' "$WORK/first/dvc.lock" "$STAGE")
for out in "${OUTS[@]}"; do
    run diff -r "$WORK/first/$out" "$WORK/second/$out"
done
run dvc status "$STAGE"
echo "s3-local: dvc push and dvc pull through $ENDPOINT gave identical ${OUTS[*]}"
