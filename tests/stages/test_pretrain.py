"""The `pretrain` stage: a streamed, deduplicated, leak-free corpus and a masked-LM through the one loop.

Everything is real: a folder, a .tar.xz and a git repository the test creates,
tree-sitter extraction, a byte-level BPE tokenizer, a tiny RobertaForMaskedLM,
and train_transformer fine-tuning from the saved folder.
"""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest
import torch

from streamguard.cli import main
from streamguard.data.pretrain_corpus import PretrainSourceError, build_corpus, read_corpus
from streamguard.data.records import Record, write_records
from streamguard.params import params_from_dict
from streamguard.stages.pretrain import run_pretrain
from streamguard.stages.train import run_train
from streamguard.training.loop import TrainingInterrupted

TINY = {
    "vocab_size": 300,
    "max_length": 32,
    "hidden_size": 16,
    "num_layers": 1,
    "num_heads": 2,
    "intermediate_size": 32,
    "batch_size": 8,
    "epochs": 2,
    "patience": 2,
    "checkpoint_every": 3,
    "valid_fraction": 0.2,
    "min_chars": 20,
}


def _function(i: int) -> str:
    return (
        f"static int helper_{i}(char *buf, int len)\n{{\n    int total = {i};\n"
        f"    for (int k = 0; k < len; k++)\n        total += buf[k] * {i % 7 + 1};\n"
        f'    if (total > {100 + i})\n        memcpy(buf, "abc", 3);\n    return total;\n}}\n'
    )


def _processed(tmp_path, sample_records, planted: str):
    """train/valid/test splits; `planted` is one valid function (its text, re-spaced, goes into a source)."""
    out = tmp_path / "processed"
    chunks = {"train": sample_records[:40], "valid": sample_records[40:52], "test": sample_records[52:64]}
    for split, recs in chunks.items():
        rows = [Record(**{**r.to_dict(), "split": split}) for r in recs]
        if split == "valid":
            rows[0] = Record(**{**rows[0].to_dict(), "func": planted, "id": "planted"})
        write_records(out / f"{split}.jsonl", rows)
    return out


@pytest.fixture
def sources(tmp_path):
    """A plain folder, a .tar.xz (never unpacked) and a git repository, with one duplicate across them."""
    folder = tmp_path / "src_folder"
    folder.mkdir()
    for i in range(0, 30):
        (folder / f"f{i}.c").write_text(_function(i) + _function(i + 1000))
    (folder / "notes.txt").write_text("int not_c(void) { return 0; }\n")
    (folder / "big.c").write_text(_function(5000) + "/*" + "x" * 5000 + "*/\n")
    archive_src = tmp_path / "archive_src"
    archive_src.mkdir()
    for i in range(30, 50):
        (archive_src / f"a{i}.c").write_text(_function(i))
    archive = tmp_path / "code.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(archive_src, arcname="proj")
    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(50, 70):
        (repo / f"r{i}.c").write_text(_function(i))
    (repo / "dup.c").write_text(_function(3))  # same text as a folder function: a duplicate
    (repo / "untracked.c").write_text(_function(9999))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", *(f"r{i}.c" for i in range(50, 70)), "dup.c"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    return [str(folder), str(archive), str(repo)]


def _params(sources, **pretrain):
    return params_from_dict(
        {
            "seed": 3,
            "transformer": {"init": "pretrain", "epochs": 1, "batch_size": 16, "max_length": 32, "device": "cpu"},
            "pretrain": {**TINY, "sources": sources, "max_file_bytes": 4000, "device": "cpu", **pretrain},
        }
    )


def test_corpus_streams_every_source_kind_dedups_and_drops_a_planted_valid_function(tmp_path, sample_records, sources):
    planted = _function(7)
    processed = _processed(tmp_path, sample_records, "  " + planted.replace("\n", "\n\t"))  # same after normalising
    report = build_corpus(_params(sources).pretrain, processed, tmp_path / "corpus.jsonl").as_dict()
    rows = list(read_corpus(tmp_path / "corpus.jsonl"))
    texts = [r["text"] for r in rows]
    assert planted.strip() not in {t.strip() for t in texts}
    assert report["drops"]["leak_valid_test"] == 1
    assert report["drops"]["duplicate"] == 1  # dup.c in the repo repeats folder f3.c's first function
    assert report["drops"]["file_too_large"] == 1  # big.c
    # 60 folder functions + 20 archive + 20 repo (+dup) - the planted one; untracked.c and notes.txt unread
    assert report["functions"] == len(rows) == 99
    assert {r["source"] for r in rows} == set(sources)
    assert not any("9999" in t for t in texts)
    assert report["sources"][sources[1]]["kind:tar"] == 1 and report["sources"][sources[2]]["kind:git"] == 1
    assert len(report["sha256"]) == 64 and report["functions_per_s"] > 0
    assert not any(p.name.startswith("proj") for p in tmp_path.rglob("*") if p.parent == tmp_path)


def test_a_git_bundle_is_read_like_its_repository(tmp_path, sample_records, sources):
    bundle = tmp_path / "repo.bundle"
    subprocess.run(["git", "-C", sources[2], "bundle", "create", "-q", str(bundle), "HEAD", "--all"], check=True)
    processed = _processed(tmp_path, sample_records, "int x(void) { return 1; }")
    from_repo = build_corpus(_params([sources[2]]).pretrain, processed, tmp_path / "a.jsonl")
    from_bundle = build_corpus(_params([str(bundle)]).pretrain, processed, tmp_path / "b.jsonl")
    assert from_bundle.functions == from_repo.functions == 21
    assert sorted(r["text"] for r in read_corpus(tmp_path / "a.jsonl")) == sorted(
        r["text"] for r in read_corpus(tmp_path / "b.jsonl")
    )


def test_max_functions_caps_the_corpus_and_a_missing_source_is_an_error(tmp_path, sample_records, sources):
    processed = _processed(tmp_path, sample_records, "int x(void) { return 1; }")
    report = build_corpus(_params(sources, max_functions=25).pretrain, processed, tmp_path / "c.jsonl")
    assert report.functions == 25 and report.stopped_at_max_functions
    assert list(report.sources) == [sources[0]]  # stopped inside the first source
    # a hash sample spreads the same cap over every source, and the rest is counted
    sampled = build_corpus(
        _params(sources, max_functions=30, sample_fraction=0.3).pretrain, processed, tmp_path / "s.jsonl"
    )
    assert (
        sampled.functions == 30 and len(sampled.sources) == 3 and sampled.drops["not_sampled"] >= (60 - 22) + (20 - 6)
    )
    with pytest.raises(PretrainSourceError, match=r"nowhere.tar.xz. does not exist"):
        build_corpus(_params([str(tmp_path / "nowhere.tar.xz")]).pretrain, processed, tmp_path / "d.jsonl")


@pytest.mark.slow
def test_pretrain_then_fine_tune_from_the_saved_folder(tmp_path, sample_records, sources):
    processed = _processed(tmp_path, sample_records, "int x(void) { return 1; }")
    params = _params(sources, validate_every_steps=4)
    status = run_pretrain(params, processed, tmp_path / "models/pretrain", tmp_path / "data/pretrain", tmp_path / "ck")
    assert status["status"] == "pretrained" and status["valid_perplexity"] > 1
    report = json.loads((tmp_path / "data/pretrain/corpus_report.json").read_text())
    assert report["tokens"] == status["train_tokens"] > 0
    run_info = json.loads((tmp_path / "models/pretrain/run_info.json").read_text())
    history = run_info["history"]
    # a valid MLM loss every 4 steps as well as at both epochs' ends: a curve even for a one-epoch run
    assert {h["epoch"] for h in history} == {1, 2} and len(history) > 2
    epoch_ends = {max(h["step"] for h in history if h["epoch"] == e) for e in (1, 2)}
    assert all(h["step"] % 4 == 0 for h in history if h["step"] not in epoch_ends)
    assert {"valid_loss", "valid_perplexity", "train_loss"} <= set(history[0])
    # the kept weights are the round with the lowest valid MLM loss (early stopping on -loss, not a class metric)
    losses = [h["valid_loss"] for h in history]
    best = history[losses.index(min(losses))]
    assert status["valid_loss"] == min(losses)
    assert (status["best_epoch"], status["best_step"]) == (best["epoch"], best["step"])
    assert (tmp_path / "models/pretrain/live/metrics.json").exists()  # dvclive curves
    # fine-tuning: train_transformer starts from the pretrained encoder, through from_pretrained
    pretrained_dir = tmp_path / "models/pretrain"
    (info,) = run_train(
        "transformer",
        params,
        processed,
        tmp_path / "g",
        tmp_path / "models/transformer",
        checkpoints=tmp_path / "ck",
        pretrained=pretrained_dir,
    )
    assert info["pretrained"] == str(pretrained_dir / "hf")
    from streamguard.models import transformer as tf

    _, fine_tuned = tf.load(tmp_path / "models/transformer")
    _, pretrained = tf.load_pretrained(str(tmp_path / "models/pretrain/hf"))
    assert fine_tuned.config.hidden_size == 16 and fine_tuned.config.vocab_size == pretrained.config.vocab_size
    # with init: scratch the stage is skipped and says so; fine-tuning from a missing model is an error
    scratch = params_from_dict({"transformer": {"init": "scratch"}})
    assert run_pretrain(scratch, processed, pretrained_dir, tmp_path / "data/pretrain", tmp_path / "ck")["status"] == (
        "skipped"
    )
    assert "transformer.init is 'scratch'" in (pretrained_dir / "pretrain.json").read_text()
    argv = ["--params", _write_params(tmp_path), "train", "transformer", "--processed", str(processed)]
    argv += ["--pretrained", str(pretrained_dir), "--checkpoints", str(tmp_path / "ck"), "--out", str(tmp_path / "t")]
    assert main(argv) == 2


def _write_params(tmp_path) -> str:
    path = tmp_path / "p.yaml"
    path.write_text("transformer:\n  init: pretrain\n  epochs: 1\n")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("batching", ["padded", "bucketed"])
def test_interrupted_pretraining_resumes_to_the_same_weights(tmp_path, sample_records, sources, batching):
    processed = _processed(tmp_path, sample_records, "int x(void) { return 1; }")
    params = _params(sources, batching=batching)
    run_pretrain(params, processed, tmp_path / "full", tmp_path / "corpus_full", checkpoint_dir=tmp_path / "ck_full")
    with pytest.raises(TrainingInterrupted):
        run_pretrain(
            params, processed, tmp_path / "resumed", tmp_path / "corpus_r", tmp_path / "ck_r", stop_after_steps=5
        )
    status = run_pretrain(params, processed, tmp_path / "resumed", tmp_path / "corpus_r", tmp_path / "ck_r")
    assert status["resumed_from_step"] == 5
    a = torch.load(tmp_path / "full/model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed/model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_pretrain_params_check_their_ranges():
    from streamguard.params import ParamsError

    with pytest.raises(ParamsError, match="pretrain.mlm_probability"):
        params_from_dict({"pretrain": {"mlm_probability": 1.5}})
    with pytest.raises(ParamsError, match="pretrain.sources"):
        params_from_dict({"pretrain": {"sources": ["a", "a"]}})
    with pytest.raises(ParamsError, match="transformer.init"):
        params_from_dict({"transformer": {"init": "pretrain", "model_name_or_path": "x"}})


def test_a_second_pretrain_into_a_claimed_checkpoint_folder_stops(tmp_path):
    from streamguard.training.checkpoint_claim import CheckpointInUseError, checkpoint_claim

    params = params_from_dict({"transformer": {"init": "scratch"}})
    with checkpoint_claim(tmp_path / "ck"), pytest.raises(CheckpointInUseError, match="in use"):
        run_pretrain(params, tmp_path / "processed", tmp_path / "out", tmp_path / "corpus", tmp_path / "ck")
    # released: the same call now runs (and, with init scratch, writes its skip marker)
    assert (
        run_pretrain(params, tmp_path / "processed", tmp_path / "out", tmp_path / "corpus", tmp_path / "ck")["status"]
        == "skipped"
    )


@pytest.mark.slow
def test_gnn_subtoken_embeddings_start_from_the_pretrained_model(tmp_path, sample_records, sources):
    import dataclasses

    from streamguard.errors import StreamGuardError
    from streamguard.graphs.schema import RESERVED_TOKENS
    from streamguard.graphs.vocab import load_vocab
    from streamguard.models import transformer as tf
    from streamguard.models.gnn import GNNConfig, gnn_from_graph_dir
    from streamguard.stages.graphs import run_graphs_stage
    from streamguard.training.branches import GNNBranch

    processed = _processed(tmp_path, sample_records, "int x(void) { return 1; }")
    pretrained_dir = tmp_path / "models/pretrain"
    params = params_from_dict(
        {
            "seed": 3,
            "graph": {"workers": 1, "min_token_count": 1},
            "gnn": {"token_init": "pretrain", "hidden_size": 16, "num_layers": 1, "epochs": 1, "device": "cpu"},
            "pretrain": {**TINY, "sources": sources, "max_file_bytes": 4000, "device": "cpu"},
        }
    )
    # the GNN alone asking for it is enough to make the stage pretrain
    assert params.transformer.init == "scratch"
    assert run_pretrain(params, processed, pretrained_dir, tmp_path / "data/pretrain", tmp_path / "ck")["status"] == (
        "pretrained"
    )
    run_graphs_stage(processed, tmp_path / "graphs", params)
    subtokens = load_vocab(tmp_path / "graphs").subtokens
    tokenizer, pretrained = tf.load_pretrained(str(pretrained_dir / "hf"))
    table = pretrained.get_input_embeddings().weight.detach()

    branch = GNNBranch(params, processed, tmp_path / "graphs", pretrained_dir)
    branch.model = gnn_from_graph_dir(GNNConfig.of(params.gnn), tmp_path / "graphs")
    before = branch.model.token.weight.detach().clone()
    set_rows = branch._init_tokens_from_pretrain()
    after = branch.model.token.weight.detach()
    learned = [i for i, s in enumerate(subtokens) if s not in RESERVED_TOKENS]
    assert set_rows == len(learned) > 20
    # each learned row is one common scale times the mean over " s" and "s" of its BPE pieces' mean embedding
    expected = torch.stack(
        [
            torch.stack(
                [table[ids].mean(0) for ids in tokenizer([subtokens[i], " " + subtokens[i]])["input_ids"]]
            ).mean(0)
            for i in learned
        ]
    )
    scale = after[learned].norm() / expected.norm()
    assert torch.allclose(after[learned], scale * expected, atol=1e-5)
    assert after[learned].std().item() == pytest.approx(1.0, rel=1e-3)
    reserved = [i for i, s in enumerate(subtokens) if s in RESERVED_TOKENS]
    assert torch.equal(after[reserved], before[reserved]) and not after[0].any()  # padding stays zero

    # the stage trains from it and says so; a width mismatch is an error naming both keys
    stage = {"checkpoints": tmp_path / "ck", "pretrained": pretrained_dir}
    (info,) = run_train("gnn", params, processed, tmp_path / "graphs", tmp_path / "models/gnn", **stage)
    assert info["token_init"] == "pretrain" and info["token_rows_from_pretrain"] == set_rows
    wide = dataclasses.replace(params, gnn=dataclasses.replace(params.gnn, hidden_size=32))
    with pytest.raises(StreamGuardError, match=r"gnn.hidden_size is 32.*pretrain.hidden_size"):
        run_train("gnn", wide, processed, tmp_path / "graphs", tmp_path / "models/gnn2", **stage)


def test_files_of_random_bytes_named_c_never_enter_the_corpus(tmp_path, sample_records, capsys):
    """Binary blobs that happen to hold function-shaped text (NUL bytes, or mostly not UTF-8) are counted, not cut."""
    import random

    folder = tmp_path / "blobs"
    folder.mkdir()
    rng = random.Random(5)
    for i in range(3):
        noise = rng.randbytes(3000)
        (folder / f"blob{i}.c").write_bytes(noise + b"\n" + _function(100 + i).encode() + b"\n" + noise)
    (folder / "latin1.c").write_bytes(b"/* caf\xe9 */\n" + _function(7).encode())  # one odd byte: still C
    processed = _processed(tmp_path, sample_records, "int x(void) { return 1; }")
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"transformer": {"init": "pretrain"}, "pretrain": {**TINY, "sources": [str(folder)]}}))
    argv = ["--params", str(params), "pretrain", "--processed", str(processed), "--corpus", str(tmp_path / "corpus")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "has 1 functions" in err and "'binary_file': 3" in err
