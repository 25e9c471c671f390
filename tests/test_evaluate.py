import json

import pytest

from pipeline.__main__ import main
from pipeline.config import Settings, SummarizeSettings
from pipeline.evaluate import (
    AccentSafeTokenizer, EvalError, TranslationPair, evaluate_summaries, evaluate_translations,
    load_summary_data, load_translation_data, rouge_scores, write_predictions,
)

from conftest import apertium_missing

ARTICLES = [
    {"id": "a1", "article": "Les Pyrénées ont connu un été très chaud cette année.Alors les bergers ont dû descendre "
                            "leurs troupeaux plus tôt que prévu vers les vallées. La sécheresse a touché toute la région.",
     "abstract": "Les Pyrénées ont connu un été très chaud cette année.", "title": "t"},
    {"id": "a2", "article": "Le conseil municipal de Lyon a voté lundi un nouveau plan de circulation pour le centre. "
                            "Les voitures seront interdites dans la presqu'île le dimanche à partir de juin.",
     "abstract": "Lyon interdit les voitures dans la presqu'île le dimanche.", "title": "t"},
]


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "sums.jsonl"
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES), encoding="utf-8")
    return path


@pytest.fixture
def tsv(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Il a deux voitures.\tHe has two cars.\nElle habite à Kyoto.\tShe lives in Kyoto.\n", encoding="utf-8")
    return path


def test_rouge_tokenizer_keeps_accented_words():
    assert AccentSafeTokenizer().tokenize("L'été a ôté") == ["l", "été", "a", "ôté"]
    # rouge-score's default tokenizer would reduce both words to "t" and score 100
    assert rouge_scores("x", ["été"], ["ôté"]).rouge1 == 0.0
    assert rouge_scores("x", ["Été"], ["été"]).rouge1 == 100.0


def test_lead_baselines_use_repaired_sentences(jsonl):
    items = load_summary_data(jsonl)
    assert [i.id for i in items] == ["a1", "a2"]
    result = evaluate_summaries(items, Settings())
    leads = {p.id: p.leads for p in result.predictions}
    # "année.Alors" is two sentences: LEAD-1 stops at the glued join
    assert leads["a1"][0] == "Les Pyrénées ont connu un été très chaud cette année."
    assert leads["a1"][1].endswith("vers les vallées.")
    assert leads["a2"][2] == leads["a2"][1]  # only two sentences
    by_name = {r.system: r for r in (result.system, *result.baselines)}
    assert [r.system for r in result.baselines] == ["LEAD-1", "LEAD-2", "LEAD-3"]
    assert by_name["LEAD-1"].avg_tokens == pytest.approx((10 + 16) / 2)
    assert 50 < by_name["LEAD-1"].rouge1 < 100  # a1 is a perfect match, a2 is not


def test_summaries_come_from_the_configured_summarizer(jsonl):
    items = load_summary_data(jsonl, limit=1)
    assert len(items) == 1
    settings = Settings(summarize=SummarizeSettings(sentences=1, max_words=35))
    result = evaluate_summaries(items, settings)
    summary = result.predictions[0].summary
    assert summary and summary in ARTICLES[0]["article"].replace("année.Alors", "année. Alors")
    assert len(summary.split()) <= 35
    assert result.system.avg_tokens == len(AccentSafeTokenizer().tokenize(summary))
    assert "extractive" in result.engine


def test_summary_data_needs_the_columns(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "text": "x"}\n')
    with pytest.raises(EvalError, match="article, abstract"):
        load_summary_data(path)


class _Echo:
    """Translator test double: returns what it was built with, in order."""

    engine = "echo"

    def __init__(self, outputs):
        self.outputs = outputs

    def translate(self, texts):
        return list(self.outputs[: len(texts)])


def test_bleu_and_chrf_of_perfect_and_poor_translations(tsv):
    pairs = load_translation_data(tsv)
    assert pairs[1] == TranslationPair("Elle habite à Kyoto.", "She lives in Kyoto.")
    perfect = evaluate_translations(pairs, _Echo([p.reference for p in pairs]))
    assert perfect.bleu == pytest.approx(100.0) and perfect.chrf == pytest.approx(100.0)
    assert perfect.bleu_signature.startswith("nrefs:1|") and "tok:13a" in perfect.bleu_signature
    assert "nc:6" in perfect.chrf_signature
    poor = evaluate_translations(pairs, _Echo(["It has two cars.", "It lives in Kioto."]))
    assert poor.chrf < perfect.chrf and poor.bleu < perfect.bleu
    assert poor.n == 2 and poor.sentences_per_second > 0


def test_translation_data_without_tab_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("Bonjour.\tHello.\nSalut sans tab\n")
    with pytest.raises(EvalError, match="line 2"):
        load_translation_data(path)


def test_prediction_files(jsonl, tsv, tmp_path):
    summaries = evaluate_summaries(load_summary_data(jsonl), Settings())
    write_predictions(tmp_path / "s.jsonl", summaries)
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2"]
    assert all(set(r) == {"id", "summary"} and r["summary"] for r in rows)

    translations = evaluate_translations(load_translation_data(tsv), _Echo(["One\nline.", "Two."]))
    write_predictions(tmp_path / "t.txt", translations)
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "One line.\nTwo.\n"


def test_cli_missing_data_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main(["eval", "summarize", "--data", str(missing), "--output", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "data file not found" in err and str(missing) in err
    assert not (tmp_path / "r.json").exists()
    assert main(["eval", "translate", "--data", str(tmp_path / "nope.tsv")]) == 2


def test_cli_summarize_writes_results_and_predictions(jsonl, tmp_path, capsys):
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    code = main(["eval", "summarize", "--data", str(jsonl), "--config", "configs/eval-orangesum.yaml",
                 "--limit", "1", "--output", str(out), "--predictions", str(preds), "--seed", "7"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "LEAD-1" in printed and "LEAD-3" in printed and "R-L" in printed
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["items"] == 1 and record["limit"] == 1 and record["seed"] == 7
    assert record["config"]["summarize"]["sentences"] == 1
    assert {"python", "rouge-score", "datasets"} <= set(record["versions"])
    names = [s["system"] for s in record["metrics"]["rouge"]["systems"]]
    assert names == ["extractive", "LEAD-1", "LEAD-2", "LEAD-3"]
    assert len(preds.read_text(encoding="utf-8").splitlines()) == 1


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
def test_cli_translate_with_apertium_and_raw_baseline(tsv, tmp_path, capsys):
    for extra in ([], ["--raw-apertium"]):
        out, preds = tmp_path / "r.json", tmp_path / "p.txt"
        code = main(["eval", "translate", "--data", str(tsv), "--config", "configs/eval-tatoeba.yaml",
                     "--output", str(out), "--predictions", str(preds), *extra])
        assert code == 0
        assert "chrF" in capsys.readouterr().out
        record = json.loads(out.read_text(encoding="utf-8"))
        assert record["metrics"]["chrf"]["signature"].startswith("nrefs:1|")
        assert len(preds.read_text(encoding="utf-8").splitlines()) == 2
        if not extra:
            assert preds.read_text(encoding="utf-8").startswith("He has two cars.")
        else:
            assert record["engine"].startswith("raw apertium")


# --- multi-summarize (RPM2-style clusters) -------------------------------------------------------

CLUSTER_DOCS = {
    "A_C1": [
        "Lyon ferme la presqu'île\nLe conseil municipal de Lyon a voté lundi l'interdiction des voitures dans la "
        "presqu'île le dimanche à partir de juin.\nLes commerçants du centre craignent une baisse de leur chiffre "
        "d'affaires.\n",
        "Voitures interdites le dimanche à Lyon\nLes voitures seront interdites dans la presqu'île de Lyon le dimanche "
        "dès le mois de juin, a décidé lundi le conseil municipal.\nLes transports en commun seront renforcés ce jour-là.\n",
    ],
    "B_C1": [
        "Canicule dans le Sud\nUn épisode de canicule touche le sud de la France cette semaine, avec plus de quarante "
        "degrés à Marseille et à Nîmes.\nLes agriculteurs de la Drôme craignent pour leurs récoltes de pêches.\n",
        "Quarante degrés à Marseille\nLa canicule frappe le sud de la France, où le thermomètre a dépassé quarante "
        "degrés mardi à Marseille.\nLes préfectures ont déclenché l'alerte rouge dans quatre départements.\n",
    ],
}


@pytest.fixture
def rpm2(tmp_path):
    root = tmp_path / "rpm2"
    refs = []
    for cid, texts in CLUSTER_DOCS.items():
        folder = root / "docs" / cid
        folder.mkdir(parents=True)
        for i, text in enumerate(texts, start=1):
            # as distributed: UTF-8 with a BOM, CRLF, title on the first line
            (folder / f"{cid}_{i:02d}.txt").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
        first_lines = [t.split("\n")[1] for t in texts]
        refs.append({"id": cid, "refs": [first_lines[0], first_lines[1], " ".join(first_lines)]})
    (root / "refs.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in refs), encoding="utf-8")
    return root


def test_cut_words_and_round_robin():
    from pipeline.evaluate import cut_words, round_robin

    assert cut_words("un deux , trois quatre", 3) == "un deux , trois"
    assert cut_words("l'été « chaud » arrive", 2) == "l'été « chaud"
    assert round_robin([["a1", "a2", "a3"], ["b1"], ["c1", "c2"]]) == "a1 b1 c1 a2 c2 a3"


def test_clusters_need_refs_and_folders(tmp_path):
    from pipeline.evaluate import load_clusters

    with pytest.raises(EvalError, match="refs.jsonl"):
        load_clusters(tmp_path)
    (tmp_path / "refs.jsonl").write_text('{"id": "X", "refs": ["r"]}\n', encoding="utf-8")
    with pytest.raises(EvalError, match="line 1: no folder"):
        load_clusters(tmp_path)


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
def test_cli_multi_summarize_runs_each_cluster_through_the_pipeline(rpm2, tmp_path, capsys):
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    code = main(["eval", "multi-summarize", "--data", str(rpm2), "--output", str(out), "--predictions", str(preds),
                 "--work", str(tmp_path / "work")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "round-robin" in printed and "people" in printed and "2 clusters" in printed
    record = json.loads(out.read_text(encoding="utf-8"))
    systems = {s["system"]: s for s in record["metrics"]["rouge"]["systems"]}
    assert list(systems) == ["pipeline", "lead", "round-robin", "people"]
    # round-robin lead: each article's first sentence, then each one's second, title lines left out
    from pipeline.evaluate import load_clusters, multi_rouge

    clusters = load_clusters(rpm2)
    lines = {cid: [t.split("\n")[1:3] for t in texts] for cid, texts in CLUSTER_DOCS.items()}
    expected = [" ".join([lines[c.id][0][0], lines[c.id][1][0], lines[c.id][0][1], lines[c.id][1][1]]) for c in clusters]
    assert systems["round-robin"]["rouge1"] == multi_rouge("x", expected, [c.refs for c in clusters]).rouge1 < 100
    summaries = {json.loads(line)["id"]: json.loads(line)["summary"] for line in preds.read_text().splitlines()}
    assert set(summaries) == {"A_C1", "B_C1"}
    for cid, summary in summaries.items():
        assert summary and not summary.startswith(CLUSTER_DOCS[cid][0].split("\n")[0])  # no title glued on
    assert "Lyon" in summaries["A_C1"] and "Marseille" in summaries["B_C1"]
