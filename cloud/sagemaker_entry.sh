#!/usr/bin/env bash
# StreamGuard inside a SageMaker training job: install the repository, pull what
# the DVC remote already has, run the pipeline, push the results.
#
#   bash repo/cloud/sagemaker_entry.sh [--name NAME] [-S key=value ...] [-- STAGE ...]
#   bash repo/cloud/sagemaker_entry.sh --repro [-- STAGE ...]
#
# `streamguard sagemaker` ships the tracked files (and, if asked, new unignored ones) as
# <code>/repo, their list as <code>/meta/files and the git history as
# <code>/meta/source.bundle, and runs this script from <code>. Steps:
#   1. git: rebuild the repository from the bundle (same commit as the launcher's
#      HEAD; uncommitted changes to the listed files become one commit on top), which
#      `dvc exp` needs;
#   2. pip install --require-hashes -r requirements.lock, then -e . (Python must match the lock's;
#      SG_TORCH: cuda = the lock's torch version, CUDA build; cpu = the lock's wheel; image = keep the image's);
#   3. checkpoints/ -> $SG_CHECKPOINT_DIR/train (SageMaker syncs /opt/ml/checkpoints with S3,
#      so a spot restart finds them and `resume: auto` continues), and with
#      SG_CHECKPOINT_CACHE=1 the DVC cache lives there too, so finished stages come back
#      from the run-cache instead of running again;
#   4. the DVC remote: credentials from the job's role (the container's default AWS
#      credential chain), region/endpoint from SG_REGION / SG_DVC_ENDPOINT_URL;
#   5. dvc pull --run-cache --allow-missing   (whatever the remote already holds);
#   6. dvc exp run -n NAME -S ... [STAGE ...]   (or dvc repro [STAGE ...]); SIGTERM/SIGINT
#      are forwarded to the pipeline's process group so training writes a checkpoint;
#   7. dvc push --run-cache, then metrics/, dvc.lock, params.yaml, the experiment as a git
#      bundle and job.json go to $SM_MODEL_DIR (model.tar.gz in the job's S3 output).
#
# Several instances (SM_HOST_COUNT > 1, `streamguard sagemaker --instance-count N --stage S`):
# one neural stage S trains as one torchrun group over all instances (src/streamguard/cloud/nodes.py).
# Every instance applies -S to params.yaml and runs `dvc repro` of S's upstream stages; then,
# with MASTER_ADDR/MASTER_PORT/NNODES/NODE_RANK (and torchrun's PET_* names) exported from
# SageMaker's SM_* variables, instance 0 runs `dvc exp run -f -s S` (or `dvc repro -f -s S`)
# and does steps 3 and 7, and every other instance runs S's command as torchrun workers and
# stops there (its checkpoints and DVC cache stay local: rank 0 writes the checkpoints).
#
# Paths can be moved for local runs and tests: SG_CHECKPOINT_DIR (/opt/ml/checkpoints),
# SM_MODEL_DIR (/opt/ml/model), SG_OUTPUT_DIR (/opt/ml/output), SG_META_DIR (<code>/meta);
# SG_SKIP_INSTALL=1 skips step 2, SG_PYTHON picks the interpreter.
set -euo pipefail

log() { printf '[streamguard] %s\n' "$*" >&2; }

OUTPUT_DIR="${SG_OUTPUT_DIR:-/opt/ml/output}"
# die MESSAGE [STATUS]
die() {
    log "error: $1"
    # SageMaker shows this file's text as the job's FailureReason
    if [ -d "$OUTPUT_DIR" ] && [ -w "$OUTPUT_DIR" ]; then
        printf 'streamguard: %s\n' "$1" > "$OUTPUT_DIR/failure" || true
    fi
    exit "${2:-1}"
}

MODE=exp
NAME="${SG_RUN_NAME:-}"
OVERRIDES=()
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --repro) MODE=repro; shift ;;
        --name) [ $# -ge 2 ] || die "--name needs a value"; NAME="$2"; shift 2 ;;
        -S|--set-param)
            [ $# -ge 2 ] || die "$1 needs key=value"
            case "$2" in *=*) ;; *) die "$1 takes key=value, got '$2'" ;; esac
            OVERRIDES+=("$2"); shift 2 ;;
        --) shift; TARGETS=("$@"); break ;;
        *) die "unknown argument '$1' (usage: sagemaker_entry.sh [--repro] [--name NAME] [-S key=value ...] [-- STAGE ...])" ;;
    esac
done
NODES="${SM_HOST_COUNT:-1}"
if [ "$NODES" -gt 1 ]; then
    [ ${#TARGETS[@]} -eq 1 ] || die "$NODES instances train one stage together: name exactly one (-- STAGE)"
elif [ "$MODE" = repro ] && [ ${#OVERRIDES[@]} -gt 0 ]; then
    die "-S overrides need an experiment run; drop --repro"
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
META="${SG_META_DIR:-$(dirname "$REPO")/meta}"
CKPT="${SG_CHECKPOINT_DIR:-/opt/ml/checkpoints}"
MODEL_DIR="${SM_MODEL_DIR:-/opt/ml/model}"
PYTHON="${SG_PYTHON:-$(command -v python3 || command -v python || true)}"
[ -n "$PYTHON" ] || die "no python3 in the image"
cd "$REPO"
export DVC_NO_ANALYTICS=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
log "job ${TRAINING_JOB_NAME:-local} | source ${SG_SOURCE_COMMIT:-unknown} (dirty: ${SG_SOURCE_DIRTY:-unknown}) | mode $MODE"

# --- 1. git --------------------------------------------------------------------
if ! command -v git >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        log "installing git"
        { apt-get update -qq && apt-get install -y -qq git >/dev/null; } || true
    fi
    command -v git >/dev/null 2>&1 || die "git is not in the image and could not be installed; dvc needs it"
fi
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-streamguard-sagemaker}"
export GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-streamguard-sagemaker@localhost}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}"
export GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}"
# the extracted files may belong to another uid than the job's: trust this one repository
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0="$REPO"
if [ ! -d .git ]; then
    git -c init.defaultBranch=main init -q
    if [ -f "$META/source.bundle" ]; then
        git fetch -q "$META/source.bundle" HEAD
        git reset -q FETCH_HEAD
    fi
    # commit exactly what the bundle shipped (meta/files), never whatever else lies in the tree
    [ -f "$META/files" ] || die "$META/files is missing: rebuild the bundle with this version of streamguard"
    git add -u
    if [ -s "$META/files" ]; then
        git --literal-pathspecs add --pathspec-from-file="$META/files" --pathspec-file-nul
    fi
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
        git commit -q -m "sagemaker: working tree of ${SG_SOURCE_COMMIT:-an unknown commit}"
    fi
fi
log "repository at $(git rev-parse --short HEAD)"

# --- 2. install -----------------------------------------------------------------
# everything from the hash-locked requirements.lock (every transitive pin), for the Python
# it was locked for; torch by SG_TORCH: the lock's CPU wheel (cpu), the CUDA build of the
# lock's version (cuda), or the image's own (image)
if [ "${SG_SKIP_INSTALL:-0}" != 1 ]; then
    LOCK=requirements.lock
    [ -f "$LOCK" ] || die "$LOCK is missing from the source bundle; commit it (make lock)"
    WANT_PY="$(sed -n 's/.*--python-version \([0-9][0-9.]*\).*/\1/p' "$LOCK" | head -n 1)"
    HAVE_PY="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [ -z "$WANT_PY" ] || [ "$WANT_PY" = "$HAVE_PY" ] || die "the image's Python is $HAVE_PY but $LOCK is locked for \
Python $WANT_PY: pick an image with Python $WANT_PY (streamguard sagemaker picks one unless --image is given)"
    INSTALL="$(dirname "$REPO")/install"
    mkdir -p "$INSTALL"
    # the torch entry (its line and hash lines) apart from the rest
    awk '/^torch==/{skip=1} skip{if ($0 !~ /\\$/) skip=0; next} {print}' "$LOCK" > "$INSTALL/requirements.lock"
    awk '/^torch==/{on=1} on{print; if ($0 !~ /\\$/) on=0}' "$LOCK" > "$INSTALL/torch.lock"
    TORCH_VERSION="$(sed -n 's/^torch==\([^ +]*\).*/\1/p' "$INSTALL/torch.lock")"
    [ -n "$TORCH_VERSION" ] || die "$LOCK pins no torch"
    log "pip install --require-hashes -r $LOCK (Python $HAVE_PY)"
    "$PYTHON" -m pip install -q --require-hashes --no-deps -r "$INSTALL/requirements.lock" \
        || die "pip install of $LOCK failed (see above)"
    case "${SG_TORCH:-cuda}" in
        image)
            log "keeping the image's torch $("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '(none!)') (the lock pins $TORCH_VERSION)" ;;
        cpu)
            log "torch $TORCH_VERSION CPU build, hash-locked"
            "$PYTHON" -m pip install -q --require-hashes --no-deps \
                --extra-index-url https://download.pytorch.org/whl/cpu -r "$INSTALL/torch.lock" \
                || die "pip install of the lock's torch failed" ;;
        cuda)
            # the lock holds the CPU wheel's hash only: the CUDA build is pinned by version
            INDEX="${SG_TORCH_INDEX:-https://download.pytorch.org/whl/cu126}"
            log "torch==$TORCH_VERSION CUDA build from $INDEX (version-pinned; the lock hashes the CPU wheel)"
            "$PYTHON" -m pip install -q "torch==$TORCH_VERSION" --index-url "$INDEX" \
                || die "pip install of torch==$TORCH_VERSION from $INDEX failed" ;;
        *) die "SG_TORCH=${SG_TORCH}: expected cuda, cpu or image" ;;
    esac
    "$PYTHON" -m pip install -q --no-deps -e . || die "pip install -e . failed"
fi
command -v dvc >/dev/null 2>&1 || die "dvc is not on PATH after the install"
command -v streamguard >/dev/null 2>&1 || die "streamguard is not on PATH after the install"

# --- multi-instance: this host's place in the torchrun group ------------------------
NODE_RANK_HERE=0
RDZV=""
if [ "$NODES" -gt 1 ]; then
    RDZV="$("$PYTHON" -m streamguard.cloud.nodes env)" || die "cannot tell this instance's node rank (see above)"
    NODE_RANK_HERE="$(printf '%s\n' "$RDZV" | sed -n "s/^export NODE_RANK=//p" | tr -d "'")"
    log "instance $NODE_RANK_HERE of $NODES: $(printf '%s' "$RDZV" | tr '\n' ' ')"
fi
export SG_RDZV="$RDZV"

# --- 3. checkpoints ---------------------------------------------------------------
if [ "$NODE_RANK_HERE" != 0 ]; then
    CKPT="$(mktemp -d)"  # rank 0 writes the checkpoints; this instance's folder must not sync over the leader's
fi
mkdir -p "$CKPT/train"
if [ -d checkpoints ] && [ ! -L checkpoints ]; then
    cp -a checkpoints/. "$CKPT/train/" && rm -rf checkpoints
fi
ln -sfn "$CKPT/train" checkpoints
log "checkpoints/ -> $CKPT/train ($(find "$CKPT/train" -name '*.pt' | wc -l | tr -d ' ') checkpoint files there)"

# --- 4. the DVC remote ---------------------------------------------------------
REMOTE="${SG_DVC_REMOTE:-$(dvc remote default 2>/dev/null || true)}"
[ -n "$REMOTE" ] || die "no default DVC remote in .dvc/config"
if [ -n "${SG_REGION:-}" ]; then
    dvc remote modify --local "$REMOTE" region "$SG_REGION"
fi
if [ -n "${SG_DVC_ENDPOINT_URL:-}" ]; then
    dvc remote modify --local "$REMOTE" endpointurl "$SG_DVC_ENDPOINT_URL"
fi
if [ "${SG_CHECKPOINT_CACHE:-0}" = 1 ]; then
    mkdir -p "$CKPT/dvc-cache"
    dvc cache dir --local "$CKPT/dvc-cache"
fi
# no keys are written anywhere: the remote uses the default AWS credential chain,
# which inside SageMaker is the job's execution role
"$PYTHON" - <<'EOF' || die "no AWS credentials in the job: check the job's execution role (--role)"
import sys
try:
    import boto3
except ImportError:
    sys.exit(0)  # nothing to check with; dvc will report a credentials problem itself
creds = boto3.Session().get_credentials()
if creds is None:
    sys.exit(1)
print(f"[streamguard] AWS credentials for the DVC remote: {creds.method}", file=sys.stderr)
EOF

# --- 5. pull --------------------------------------------------------------------
log "dvc pull (what the remote '$REMOTE' already holds)"
dvc pull --run-cache --allow-missing -r "$REMOTE" || die "dvc pull failed: can the job's role read the DVC remote '$REMOTE'?"

# --- 6. run ---------------------------------------------------------------------
STOPPED=""
forward() {
    STOPPED="$1"
    log "$1: forwarding to the pipeline (training writes a checkpoint; resume: auto continues)"
    kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
}
# run_forwarded CMD...: run in its own process group, so a SIGTERM reaches the training process under dvc
run_forwarded() {
    log "$*"
    if command -v setsid >/dev/null 2>&1; then setsid "$@" & else "$@" & fi
    CHILD=$!
    trap 'forward SIGTERM' TERM
    trap 'forward SIGINT' INT
    set +e
    wait "$CHILD"; RC=$?
    while kill -0 "$CHILD" 2>/dev/null; do wait "$CHILD"; RC=$?; done
    set -e
    trap - TERM INT
    if [ -n "$STOPPED" ]; then
        die "stopped by $STOPPED; checkpoints are in $CKPT" 143
    fi
    [ "$RC" -eq 0 ] || die "'$*' failed with exit status $RC" "$RC"
}
# "${WITH_RENDEZVOUS[@]}" CMD...: CMD with this instance's torchrun variables exported
WITH_RENDEZVOUS=(bash -c 'eval "$SG_RDZV"; exec "$@"' with-rendezvous)

if [ "$NODES" -gt 1 ]; then
    STAGE="${TARGETS[0]}"
    "$PYTHON" -m streamguard.cloud.nodes section "$STAGE" >/dev/null || die "--stage $STAGE cannot train across instances"
    "$PYTHON" -m streamguard.cloud.nodes apply-overrides params.yaml ${OVERRIDES[@]+"${OVERRIDES[@]}"} \
        || die "could not apply -S ${OVERRIDES[*]} to params.yaml"
    mapfile -t UPSTREAM < <("$PYTHON" -m streamguard.cloud.nodes upstream "$STAGE") || die "no stage $STAGE in dvc.yaml"
    # the same deterministic data on every instance, each on its own (no rendezvous)
    [ ${#UPSTREAM[@]} -eq 0 ] || run_forwarded dvc repro "${UPSTREAM[@]}"
    if [ "$NODE_RANK_HERE" = 0 ]; then
        if [ "$MODE" = repro ]; then CMD=(dvc repro -f -s "$STAGE"); else CMD=(dvc exp run -f -s "$STAGE"); fi
        [ "$MODE" = repro ] || [ -z "$NAME" ] || CMD=(dvc exp run -n "$NAME" -f -s "$STAGE")
        run_forwarded "${WITH_RENDEZVOUS[@]}" "${CMD[@]}"
    else
        STAGE_CMD="$("$PYTHON" -m streamguard.cloud.nodes command "$STAGE")" || die "no command for $STAGE"
        run_forwarded "${WITH_RENDEZVOUS[@]}" bash -c "$STAGE_CMD"
        log "done: instance $NODE_RANK_HERE trained as torchrun workers; instance 0 pushes the results"
        exit 0
    fi
else
    if [ "$MODE" = repro ]; then
        CMD=(dvc repro)
    else
        CMD=(dvc exp run)
        [ -z "$NAME" ] || CMD+=(-n "$NAME")
        for o in ${OVERRIDES[@]+"${OVERRIDES[@]}"}; do CMD+=(-S "$o"); done
    fi
    CMD+=(${TARGETS[@]+"${TARGETS[@]}"})
    run_forwarded "${CMD[@]}"
fi

# --- 7. push and results ----------------------------------------------------------
log "dvc push"
dvc push --run-cache -r "$REMOTE" || die "dvc push failed: can the job's role write to the DVC remote '$REMOTE'?"
mkdir -p "$MODEL_DIR"
[ ! -d metrics ] || cp -a metrics "$MODEL_DIR/"
for f in dvc.lock params.yaml; do [ ! -f "$f" ] || cp "$f" "$MODEL_DIR/"; done
# experiments only (refs/exps/<baseline sha>/<name>), not DVC's own exec/apply refs
EXP_REFS="$(git for-each-ref --format='%(refname)' refs/exps | grep -E '^refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/' || true)"
if [ -n "$EXP_REFS" ]; then
    # locally: git fetch experiment.bundle 'refs/exps/*:refs/exps/*' && dvc exp show
    # shellcheck disable=SC2086
    git bundle create "$MODEL_DIR/experiment.bundle" $EXP_REFS >/dev/null 2>&1 \
        || log "warning: could not write experiment.bundle (the results are on the DVC remote)"
fi
"$PYTHON" - "$MODEL_DIR/job.json" "$MODE" "$NAME" "$(git rev-parse HEAD)" ${OVERRIDES[@]+"${OVERRIDES[@]}"} <<'EOF'
import json, os, sys
path, mode, name, head, *overrides = sys.argv[1:]
info = {"job": os.environ.get("TRAINING_JOB_NAME"), "mode": mode, "name": name or None,
        "source_commit": os.environ.get("SG_SOURCE_COMMIT"), "source_dirty": os.environ.get("SG_SOURCE_DIRTY"),
        "baseline_commit": head, "overrides": overrides}
with open(path, "w", encoding="utf-8") as fh:
    json.dump(info, fh, indent=2)
EOF
log "done: results in $MODEL_DIR, data and models on the DVC remote '$REMOTE'"
