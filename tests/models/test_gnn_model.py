"""The GNN classifier on tiny real graphs built by the graphs stage."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch_geometric.data import Batch

from streamguard.graphs.schema import EDGE_TYPES
from streamguard.graphs.store import load_graph_split
from streamguard.models.gnn import GNNClassifier, GNNConfig, RelationalConv, RelationEdges, gnn_from_graph_dir
from streamguard.params import Params


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # tiny tensors: with several intra-op threads on a busy 2-core machine, each step waits on spinning threads
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _params(**kw) -> GNNConfig:
    return GNNConfig(**{"hidden_size": 32, "num_layers": 2, "dropout": 0.0, **kw})


def test_forward_gives_two_logits_per_graph(tiny_graphs_dir):
    torch.manual_seed(0)
    model = gnn_from_graph_dir(_params(), tiny_graphs_dir)
    graphs = load_graph_split(tiny_graphs_dir, "train")
    logits = model(Batch.from_data_list(graphs))
    assert logits.shape == (len(graphs), 2) and logits.dtype == torch.float32 and torch.isfinite(logits).all()
    single = model(graphs[0])  # a Data without a batch vector is one graph
    assert single.shape == (1, 2) and torch.allclose(single, logits[:1], atol=1e-5)


def test_params_size_the_model(tiny_graphs_dir):
    model = gnn_from_graph_dir(_params(hidden_size=24, num_layers=4), tiny_graphs_dir)
    assert len(model.convs) == 4 and model.node_type.embedding_dim == 24
    # every edge type, plus the reverse of those whose reverse is not stored (all but the AST's)
    assert model.convs[0].num_relations == 2 * len(EDGE_TYPES) - 2
    assert model.dropout.p == 0.0 and gnn_from_graph_dir(_params(dropout=0.3), tiny_graphs_dir).dropout.p == 0.3


def test_edge_types_change_the_output(tiny_graphs_dir):
    torch.manual_seed(0)
    model = gnn_from_graph_dir(_params(), tiny_graphs_dir).eval()
    batch = Batch.from_data_list(load_graph_split(tiny_graphs_dir, "train"))
    before = model(batch)
    batch.edge_type = torch.zeros_like(batch.edge_type)  # every edge read as an AST child edge
    assert not torch.allclose(before, model(batch), atol=1e-4)


def test_a_few_optimizer_steps_reduce_the_loss(tiny_graphs_dir):
    torch.manual_seed(0)
    model = gnn_from_graph_dir(_params(), tiny_graphs_dir).train()
    graphs = load_graph_split(tiny_graphs_dir, "train")
    batch = Batch.from_data_list(graphs)
    y = batch.y.view(-1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch), y, reduction="none").mul(batch.weight).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None for name, p in model.named_parameters() if name.startswith("convs"))


def test_relational_conv_computes_what_rgcnconv_computes():
    from torch_geometric.nn import RGCNConv

    torch.manual_seed(0)
    n, hidden, relations = 40, 8, 6
    h = torch.randn(n, hidden)
    edge_index, relation = torch.randint(0, n, (2, 150)), torch.randint(0, relations, (150,))
    reference = RGCNConv(hidden, hidden, relations, aggr="mean")
    ours = RelationalConv(hidden, relations)
    with torch.no_grad():
        ours.weight.copy_(reference.weight)
        ours.root.weight.copy_(reference.root.t())
        ours.root.bias.copy_(reference.bias)
    edges = RelationEdges.build(edge_index, relation, n, relations)
    assert torch.allclose(ours(h, edges), reference(h, edge_index, relation), atol=1e-5)


def test_constructor_takes_feature_sizes_directly():
    sizes = {"node_type": 10, "token": 20, "token_columns": 2, "flags": 3}
    model = GNNClassifier(_params(), sizes, num_edge_types=2)
    x = torch.tensor([[1, 2, 0, 5], [3, 0, 0, 0], [4, 7, 8, 1]])
    batch = Batch.from_data_list([_data(x, [[0, 1], [1, 2]], [0, 1])])
    assert model(batch).shape == (1, 2)


def _data(x, edges, types):
    from torch_geometric.data import Data

    return Data(x=x, edge_index=torch.tensor(edges), edge_type=torch.tensor(types))


def _gnn_branch(tiny_graphs_dir, **gnn):
    from streamguard.training.branches import GNNBranch

    params = Params()
    params.gnn = dataclasses.replace(
        params.gnn,
        **{
            "hidden_size": 16,
            "num_layers": 2,
            "dropout": 0.1,
            "epochs": 3,
            "batch_size": 3,
            "patience": 5,
            "checkpoint_every": 0,
            "device": "cpu",
            **gnn,
        },
    )
    return GNNBranch(params, tiny_graphs_dir.parent / "processed", tiny_graphs_dir)


def _fit_gnn(tiny_graphs_dir, out, seed=5, stop_after_steps=None):
    branch = _gnn_branch(tiny_graphs_dir)
    train, valid = load_graph_split(tiny_graphs_dir, "train"), load_graph_split(tiny_graphs_dir, "valid")
    info = branch.fit(train, valid, out / "model", out / "ckpt", seed, stop_after_steps=stop_after_steps)
    return branch, info


def _state(path):
    return torch.load(path, weights_only=True)


def test_gnn_training_is_deterministic_for_a_seed(tiny_graphs_dir, tmp_path):
    test = load_graph_split(tiny_graphs_dir, "test")
    a, info_a = _fit_gnn(tiny_graphs_dir, tmp_path / "a")
    b, info_b = _fit_gnn(tiny_graphs_dir, tmp_path / "b")
    wa, wb = _state(tmp_path / "a/model/model.pt"), _state(tmp_path / "b/model/model.pt")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert info_a["history"] == info_b["history"]
    assert (a.predict(test) == b.predict(test)).all()
    c, _ = _fit_gnn(tiny_graphs_dir, tmp_path / "c", seed=6)
    assert not (c.predict(test) == a.predict(test)).all()  # the seed matters: the test can fail


def test_gnn_resumes_where_it_stopped_and_ends_as_an_uninterrupted_run(tiny_graphs_dir, tmp_path):
    from streamguard.training.loop import TrainingInterrupted

    _, straight = _fit_gnn(tiny_graphs_dir, tmp_path / "straight")
    with pytest.raises(TrainingInterrupted) as stopped:
        _fit_gnn(tiny_graphs_dir, tmp_path / "cut", stop_after_steps=4)  # mid-epoch 2 (3 batches an epoch)
    assert stopped.value.global_step == 4 and (tmp_path / "cut/ckpt/checkpoint.pt").exists()
    _, resumed = _fit_gnn(tiny_graphs_dir, tmp_path / "cut")
    assert resumed["resumed_from_step"] == 4 and straight["resumed_from_step"] == 0
    assert resumed["history"] == straight["history"]
    ws, wr = _state(tmp_path / "straight/model/model.pt"), _state(tmp_path / "cut/model/model.pt")
    assert all(torch.equal(ws[k], wr[k]) for k in ws)


def test_weight_decay_spares_every_norm_and_bias_of_both_real_models(tiny_graphs_dir):
    from tiny_training import make_task

    from streamguard.training.loop import decay_groups

    for model, vectors, matrices in (
        (
            gnn_from_graph_dir(_params(), tiny_graphs_dir),
            {"norms.0.weight", "norms.1.bias", "convs.0.root.bias"},
            {"convs.0.weight", "node_type.weight", "head.0.weight"},
        ),
        (
            make_task().model,
            {"roberta.encoder.layer.0.output.LayerNorm.weight", "classifier.dense.bias"},
            {"roberta.embeddings.word_embeddings.weight", "roberta.encoder.layer.0.attention.self.query.weight"},
        ),
    ):
        decayed, spared = decay_groups(model, 0.01)
        assert decayed["weight_decay"] == 0.01 and spared["weight_decay"] == 0.0
        name = {id(p): n for n, p in model.named_parameters()}
        decayed_names, spared_names = {name[id(p)] for p in decayed["params"]}, {name[id(p)] for p in spared["params"]}
        assert decayed_names | spared_names == set(name.values()) and not decayed_names & spared_names
        assert vectors <= spared_names and matrices <= decayed_names
        assert all(p.dim() >= 2 for p in decayed["params"]) and all(p.dim() < 2 for p in spared["params"])
