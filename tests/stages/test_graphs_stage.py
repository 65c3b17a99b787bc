"""The graphs stage end to end on a tiny processed folder: files, vocabulary, store, stats, quarantine."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from streamguard.data.records import Record, write_records
from streamguard.errors import StreamGuardError
from streamguard.graphs.build import graph_for_function, load_vocab
from streamguard.graphs.function_graph import GraphBuilder
from streamguard.graphs.stats import recommended_batch_size
from streamguard.graphs.store import load_graph_split, split_path
from streamguard.params import Params
from streamguard.stages.graphs import run_graphs_stage

TRAIN = [
    "int trainonly_alpha(int n) { char buf[16]; n = read(0, buf, n); memcpy(buf, buf, n); return n; }",
    "static av_cold int shared_init(AVCodecContext *avctx) { avctx->priv = NULL; return 0; }",
    "void shared_loop(int count) { for (int i = 0; i < count; i++) { step(i); } }",
    "int trainonly_beta(char *s) { if (!s) return -1; strcpy(dst, s); return 0; }",
    "This text is not code at all; it should still become a token-tier graph.",
    "void shared_loop(int count) { while (count--) { step(count); } }",
]
VALID = ["int validonly_gamma(int x) { return x * 2; }", "void shared_loop(void) { step(1); }"]
TEST = ["int testonly_delta(int y) { return y - 1; }", "FOO(bar, baz)"]


def _records(funcs: list[str], split: str, target_from: int = 0) -> list[Record]:
    return [Record(func=f, target=(i + target_from) % 2, project="p", confidence=0.5 + 0.1 * i, split=split)
            for i, f in enumerate(funcs)]  # fmt: skip


@pytest.fixture
def processed(tmp_path):
    folder = tmp_path / "processed"
    for split, funcs in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        write_records(folder / f"{split}.jsonl", _records(funcs, split))
    return folder


def _params(workers: int = 1, **graph) -> Params:
    params = Params()
    params.graph = dataclasses.replace(params.graph, workers=workers, min_token_count=1, **graph)
    return params


def test_stage_writes_splits_vocab_and_stats(processed, tmp_path):
    out = tmp_path / "graphs"
    stats = run_graphs_stage(processed, out, _params())
    written = sorted(p.name for p in out.iterdir())
    assert written == ["graph_stats.json", "test.pt", "train.pt", "valid.pt", "vocab.json"]
    on_disk = json.loads((out / "graph_stats.json").read_text())
    assert on_disk == json.loads(json.dumps(stats))
    assert stats["graphs"] == len(TRAIN) + len(VALID) + len(TEST) and stats["quarantined"] == 0
    assert stats["tiers"]["token"] >= 1 and stats["tiers"]["partial"] >= 1 and stats["tiers"]["full"] >= 6
    assert sum(stats["tiers"].values()) == stats["graphs"]
    assert {s: v["graphs"] for s, v in stats["splits"].items()} == {"train": 6, "valid": 2, "test": 2}
    train = stats["splits"]["train"]
    assert set(train["by_tier"]) == {"full", "partial", "token"}
    assert train["edges_per_type_mean"]["data_flow"] > 0 and train["edges_per_type_mean"]["control_flow"] > 0
    assert stats["recommended_gnn_batch_size"] == recommended_batch_size(stats, Params().gnn.memory_budget_mb)


def test_vocabulary_is_built_on_train_only(processed, tmp_path):
    out = tmp_path / "graphs"
    run_graphs_stage(processed, out, _params())
    vocab = load_vocab(out)
    assert {"trainonly", "alpha", "beta", "shared", "loop"} <= set(vocab.subtokens)
    assert not {"validonly", "gamma", "testonly", "delta"} & set(vocab.subtokens)
    unk = vocab.subtokens.index("<unk>")
    valid = {g.rid: g for g in load_graph_split(out, "valid")}
    gamma = valid[_records(VALID, "valid")[0].id]
    assert (gamma.x[:, 1:4] == unk).any()  # validonly_gamma's subtokens are unknown


def test_store_round_trip_matches_records_and_predict_path(processed, tmp_path):
    out = tmp_path / "graphs"
    params = _params()
    run_graphs_stage(processed, out, params)
    payload = torch.load(split_path(out, "train"), weights_only=True)  # no arbitrary unpickling needed
    assert payload["format"].startswith("streamguard-graphs/")
    graphs = load_graph_split(out, "train")
    records = _records(TRAIN, "train")
    assert [g.rid for g in graphs] == [r.id for r in records]
    vocab = load_vocab(out)
    for g, rec in zip(graphs, records):
        assert g.x.dtype == torch.long and g.edge_index.dtype == torch.long and g.edge_type.dtype == torch.long
        assert g.x.shape[1] == 2 + params.graph.subtokens_per_node
        assert g.y.tolist() == [rec.target] and g.weight.tolist() == pytest.approx([rec.confidence])
        assert g.tier in ("full", "partial", "token")
        fresh = graph_for_function(rec.func, vocab, params.graph)
        assert torch.equal(fresh.x, g.x) and torch.equal(fresh.edge_index, g.edge_index)
        assert torch.equal(fresh.edge_type, g.edge_type) and fresh.tier == g.tier
        assert fresh.y.tolist() == [0] and fresh.weight.tolist() == [1.0]


def test_outputs_are_byte_identical_across_runs_and_worker_counts(processed, tmp_path):
    run_graphs_stage(processed, tmp_path / "one", _params(workers=1))
    run_graphs_stage(processed, tmp_path / "two", _params(workers=2))
    for name in ("train.pt", "valid.pt", "test.pt", "vocab.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    one, two = (json.loads((tmp_path / d / "graph_stats.json").read_text()) for d in ("one", "two"))
    assert one["params"]["graph"]["workers"] == 1 and two["params"]["graph"]["workers"] == 2
    one["params"] = two["params"] = None
    assert one == two


def test_a_function_that_breaks_the_builder_is_quarantined_not_dropped(processed, tmp_path, monkeypatch):
    real_build = GraphBuilder.build

    def flaky(self, func):
        if "trainonly_beta" in func:
            raise ValueError("simulated builder bug")
        return real_build(self, func)

    monkeypatch.setattr(GraphBuilder, "build", flaky)
    out = tmp_path / "graphs"
    stats = run_graphs_stage(processed, out, _params(workers=1))
    bad = _records(TRAIN, "train")[3]
    assert stats["quarantined"] == 1
    assert stats["quarantine"] == [{"id": bad.id, "split": "train", "origin": None,
                                    "reason": "ValueError: simulated builder bug"}]  # fmt: skip
    assert stats["graphs"] == len(TRAIN) + len(VALID) + len(TEST) - 1
    rids = [g.rid for g in load_graph_split(out, "train")]
    assert bad.id not in rids and len(rids) == len(TRAIN) - 1


def test_reading_missing_or_foreign_files_names_them(tmp_path):
    with pytest.raises(StreamGuardError, match="train.pt: not found"):
        load_graph_split(tmp_path, "train")
    torch.save({"something": torch.zeros(1)}, tmp_path / "train.pt")
    with pytest.raises(StreamGuardError, match="train.pt: key 'format'"):
        load_graph_split(tmp_path, "train")
    with pytest.raises(StreamGuardError, match="vocab.json: not found"):
        load_vocab(tmp_path)
    (tmp_path / "vocab.json").write_text('{"format": "other"}')
    with pytest.raises(StreamGuardError, match="vocab.json: key 'format'"):
        load_vocab(tmp_path)


def test_recommended_batch_size_grows_with_the_budget():
    stats = {"splits": {"train": {"nodes": {"p90": 600}, "edges": {"p90": 1700}}},
             "memory_model": {"hidden_size": 128, "num_layers": 3}}  # fmt: skip
    sizes = [recommended_batch_size(stats, mb) for mb in (1, 256, 2048, 16384, 10**7)]
    assert sizes[0] == 1 and sizes == sorted(sizes) and sizes[-1] == 1024
    assert all(s & (s - 1) == 0 for s in sizes)  # powers of two
    assert recommended_batch_size(stats, 2048, hidden_size=512) < recommended_batch_size(stats, 2048)


def test_stage_reports_bad_records_with_file_and_line(tmp_path):
    folder = tmp_path / "processed"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"{split}.jsonl").write_text('{"func": "int f(void){return 0;}", "target": 1}\n')
    (folder / "valid.jsonl").write_text('{"func": "int f(void){return 0;}", "target": 7}\n')
    with pytest.raises(StreamGuardError, match=r"valid.jsonl:1: field 'target'"):
        run_graphs_stage(folder, tmp_path / "graphs", _params())


def test_graph_for_function_uses_the_vocabularys_token_columns(processed, tmp_path):
    out = tmp_path / "graphs"
    run_graphs_stage(processed, out, _params())
    vocab = load_vocab(out)
    data = graph_for_function("int f(void) { return 0; }", vocab, _params(subtokens_per_node=5).graph)
    assert data.x.shape[1] == 2 + vocab.subtokens_per_node
