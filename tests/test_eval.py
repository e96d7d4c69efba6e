"""Evaluation metrics checked against values worked out by hand, and the eval command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from papertide.cli import cli
from papertide.errors import BadQueries
from papertide.rank.evaluate import (load_beir_queries, load_jsonl, mrr_at, ndcg_at, percentile, recall_at,
                                     summarize)

RANKED = ["d1", "d2", "d3", "d4", "d5"]


def test_mrr_by_hand() -> None:
    assert mrr_at(RANKED, {"d3": 1}) == pytest.approx(1 / 3)
    assert mrr_at(RANKED, {"d2": 1, "d5": 1}) == pytest.approx(0.5)
    assert mrr_at(RANKED, {"d9": 1}) == 0.0
    assert mrr_at(RANKED, {"d3": 1}, k=2) == 0.0


def test_ndcg_binary_by_hand() -> None:
    # relevant d2, d4 and d9 (never retrieved): DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3) + 1/2
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at(RANKED, {"d2": 1, "d4": 1, "d9": 1}) == pytest.approx(dcg / ideal)
    assert ndcg_at(RANKED, {"d1": 1}) == pytest.approx(1.0)
    assert ndcg_at(RANKED, {}) == 0.0


def test_ndcg_graded_by_hand() -> None:
    # d1 grade 1, d3 grade 2: DCG = 1/1 + 2/log2(4) = 2; ideal = 2/1 + 1/log2(3)
    assert ndcg_at(RANKED, {"d1": 1, "d3": 2}) == pytest.approx(2 / (2 + 1 / math.log2(3)))


def test_recall_by_hand() -> None:
    rel = {"d2": 1, "d5": 1, "d7": 1, "d8": 1}
    assert recall_at(RANKED, rel, 10) == pytest.approx(0.5)
    assert recall_at(RANKED, rel, 2) == pytest.approx(0.25)
    assert recall_at(RANKED, {}, 10) == 0.0


def test_percentile_and_summary_by_hand() -> None:
    assert percentile([10, 20, 30, 40], 50) == pytest.approx(25)
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    runs = [(RANKED, {"d1": 1}, 10.0), (RANKED, {"d2": 1, "d9": 1}, 30.0)]
    out = summarize(runs, "keyword")
    assert list(out) == ["queries", "mode", "mrr@10", "ndcg@10", "recall@10", "recall@100", "p50_ms", "p95_ms"]
    assert out["queries"] == 2 and out["mode"] == "keyword"
    assert out["mrr@10"] == pytest.approx((1 + 0.5) / 2, abs=1e-4)
    assert out["recall@10"] == pytest.approx((1 + 0.5) / 2, abs=1e-4)
    assert out["ndcg@10"] == pytest.approx((1 + (1 / math.log2(3)) / (1 + 1 / math.log2(3))) / 2, abs=1e-4)
    assert out["p50_ms"] == 20.0 and out["p95_ms"] == 29.0


def test_query_files(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"qid": "1", "query": "a b", "relevant": ["x"]}\n\n'
                    '{"qid": "2", "query": "c", "relevant": {"y": 2, "z": 0}}\n')
    queries = load_jsonl(path)
    assert [(q.qid, q.relevant) for q in queries] == [("1", {"x": 1.0}), ("2", {"y": 2.0})]
    path.write_text('{"qid": "1", "relevant": ["x"]}\n')
    with pytest.raises(BadQueries, match="q.jsonl:1"):
        load_jsonl(path)


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = [("doc1", "Retinal vessel segmentation", "We segment vessels in fundus photographs with a U-Net."),
            ("doc2", "Protein language models", "Protein sequences embedded by a transformer language model."),
            ("doc3", "Speech recognition in noise", "Robust automatic speech recognition for noisy rooms.")]
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in docs))
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "fundus vessel segmentation"}) + "\n"
        + json.dumps({"_id": "q2", "text": "protein sequence transformer"}) + "\n"
        + json.dumps({"_id": "q3", "text": "unjudged query"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tdoc1\t1\nq2\tdoc2\t2\nq2\tdoc3\t0\n")
    return folder


def test_beir_queries(tmp_path: Path) -> None:
    queries = load_beir_queries(_beir(tmp_path / "beir"))
    assert [(q.qid, q.relevant) for q in queries] == [("q1", {"doc1": 1.0}), ("q2", {"doc2": 2.0})]


def test_eval_command_json_keyword_on_a_beir_folder(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "beir")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "unused.db"), "eval", str(folder),
                                      "--mode", "keyword", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert list(out) == ["queries", "mode", "mrr@10", "ndcg@10", "recall@10", "recall@100", "p50_ms", "p95_ms"]
    assert out["queries"] == 2 and out["mode"] == "keyword"
    assert out["mrr@10"] == 1.0 and out["recall@100"] == 1.0


def test_eval_command_rejects_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "s.db"), "eval", str(bad), "--mode", "keyword"])
    assert result.exit_code == 1
    assert "bad.jsonl:1" in result.output
