"""The same BERT + mean-pooling forward pass as memory.minilm, run by ONNX Runtime.

Why: a spoken question is ~12 tokens, and for so few rows NumPy spends as long on its
~150 calls per query as on the arithmetic. ONNX Runtime's kernels embed a LoCoMo
question in ~12 ms where NumPy takes ~21 (2-core AMD EPYC, one thread; see
benchmarks/embedding_speed.py), with the same vectors (cosine > 0.99999, checked by
tests/test_embeddings.py). That is most of what retrieval's 30 ms budget can spare.

The graph is built from the weights NumPy reads (memory.minilm), so there is no second
model to ship, pin or checksum. Building needs the ``onnx`` package, whose import costs
~1.5 s (ml_dtypes), so the graph is written once to ``cache_dir`` (the model cache) and
later loads read that file: ~0.3 s against NumPy's 0.65 s. A cached graph is keyed by
the weights file's path, size and mtime and by GRAPH_VERSION; one ONNX Runtime cannot
read is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from .minilm import MeanPooledEncoder, NumpyBert, load_tokenizer

log = logging.getLogger(__name__)
GRAPH_VERSION = 1   # bump when build_graph changes what it writes

OPSET = 17          # LayerNormalization is an ONNX op from 17 on


def build_graph(bert: NumpyBert) -> bytes:
    """A serialised ONNX model: (input_ids [b, n], positions [n], mask [b, n]) → pooled [b, dim]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights: list = []
    nodes: list = []
    count = 0

    def const(name: str, value) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: list[str], **attrs) -> str:
        nonlocal count
        count += 1
        out = f"t{count}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    heads, dim = bert.heads, bert.dim
    d = dim // heads

    def layer_norm(x: str, w, b, name: str) -> str:
        return op("LayerNormalization", [x, const(f"{name}.w", w), const(f"{name}.b", b)], axis=-1, epsilon=bert.eps)

    def linear(x: str, w, b, name: str) -> str:
        return op("Add", [op("MatMul", [x, const(f"{name}.w", w)]), const(f"{name}.b", b)])

    const("word", bert.word)
    const("pos", bert.pos)
    const("type0", bert.type0)
    x = op("Add", [op("Add", [op("Gather", ["word", "input_ids"]), op("Gather", ["pos", "positions"])]), "type0"])
    x = layer_norm(x, *bert.emb_ln, "emb.ln")
    # (1 - mask) · float32 min, as memory.minilm: a padded key gets no attention
    keep = op("Unsqueeze", ["mask", const("axes12", np.array([1, 2], np.int64))])
    bias = op("Mul", [op("Sub", [const("one", np.float32(1)), keep]), const("fmin", np.finfo(np.float32).min)])
    const("split_heads", np.array([0, 0, heads, d], np.int64))
    const("join_heads", np.array([0, 0, dim], np.int64))
    const("scale", np.float32(1 / np.sqrt(d)))
    const("half", np.float32(0.5))
    const("inv_sqrt2", np.float32(1 / np.sqrt(2)))
    for i, (qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, f_w, f_b, ln2_w, ln2_b) in enumerate(bert.layers):
        p = f"l{i}"
        q, k, v = (op("Reshape", [linear(x, qkv_w[:, j * dim:(j + 1) * dim], qkv_b[j * dim:(j + 1) * dim],
                                          f"{p}.{name}"), "split_heads"])
                   for j, name in enumerate("qkv"))
        q = op("Transpose", [q], perm=[0, 2, 1, 3])
        k = op("Transpose", [k], perm=[0, 2, 3, 1])
        v = op("Transpose", [v], perm=[0, 2, 1, 3])
        scores = op("Softmax", [op("Add", [op("Mul", [op("MatMul", [q, k]), "scale"]), bias])], axis=-1)
        ctx = op("Reshape", [op("Transpose", [op("MatMul", [scores, v])], perm=[0, 2, 1, 3]), "join_heads"])
        x = layer_norm(op("Add", [linear(ctx, o_w, o_b, f"{p}.o"), x]), ln1_w, ln1_b, f"{p}.ln1")
        inner = linear(x, i_w, i_b, f"{p}.i")
        gelu = op("Mul", [op("Mul", [inner, "half"]),
                          op("Add", ["one", op("Erf", [op("Mul", [inner, "inv_sqrt2"])])])])
        x = layer_norm(op("Add", [linear(gelu, f_w, f_b, f"{p}.f"), x]), ln2_w, ln2_b, f"{p}.ln2")
    m = op("Unsqueeze", ["mask", const("axis2", np.array([2], np.int64))])
    const("axis1", np.array([1], np.int64))
    total = op("ReduceSum", [op("Mul", [x, m]), "axis1"], keepdims=0)
    count_ = op("Max", [op("ReduceSum", [m, "axis1"], keepdims=0), const("tiny", np.float32(1e-9))])
    nodes.append(helper.make_node("Div", [total, count_], ["pooled"]))
    graph = helper.make_graph(
        nodes, "mean_pooled_bert",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "n"]),
         helper.make_tensor_value_info("positions", TensorProto.INT64, ["n"]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["b", "n"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["b", dim])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="assistant")
    model.ir_version = 8        # what this onnxruntime reads
    return model.SerializeToString()


def graph_file(model_dir: Path, cache_dir: Path) -> Path:
    """Where the graph for these weights is cached."""
    weights = (Path(model_dir) / "model.safetensors").resolve()
    st = weights.stat()
    key = hashlib.sha256(json.dumps([str(weights), st.st_size, st.st_mtime_ns, GRAPH_VERSION]).encode()).hexdigest()
    return Path(cache_dir) / "onnx" / f"{weights.parent.name}-{key[:16]}.onnx"


class OnnxBert(MeanPooledEncoder):
    """``encode`` as NumpyBert's, each batch through an ONNX Runtime session."""

    batch_cap = 8       # measured: padding a batch of 32 costs ORT more than running 8s

    def __init__(self, model_dir: Path, threads: int = 1, cache_dir: Path | None = None) -> None:
        import onnxruntime as ort
        options = ort.SessionOptions()
        # Two threads even when BLAS has one (memory.embedding_threads): with spinning off,
        # a question took 11.8 ms against 13.6-14.0 on one thread beside the full-text search,
        # and 15.2 against 17.2 with the other core kept busy (2-core AMD EPYC).
        options.intra_op_num_threads = max(threads, min(2, os.cpu_count() or 1))
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # the 2 cores are shared
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        path = graph_file(model_dir, cache_dir) if cache_dir else None
        if path and path.exists():
            try:
                self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as e:          # a torn or foreign file: build it again
                log.warning("rebuilding the embedding graph %s (%s)", path, str(e).splitlines()[0][:120])
            else:                           # the weights stay unread: the graph holds them
                self.tokenizer, self.max_len = load_tokenizer(Path(model_dir))
                self.dim = int(json.loads((Path(model_dir) / "config.json").read_text())["hidden_size"])
                return
        bert = NumpyBert(Path(model_dir))
        self.tokenizer, self.max_len, self.dim = bert.tokenizer, bert.max_len, bert.dim
        graph = build_graph(bert)
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        if path:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(graph)
                tmp.replace(path)
            except OSError as e:
                log.info("embedding graph not cached in %s (%s); it is built again next start", path.parent, e)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run(["pooled"], {"input_ids": ids, "mask": mask,
                                             "positions": np.arange(ids.shape[1], dtype=np.int64)})[0]
