"""The ImageNet-1k overlap of an evaluation set: from the WordNet ids in the photo file names, and from the committed
mapping of Sketchy's classes to the ImageNet-1k classes of the same concept."""

import csv
import json
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from zsb.data.imagenet import (
    OVERLAP_CATEGORIES,
    class_categories,
    concept_matches,
    imagenet1k_synsets,
    imagenet1k_wnids,
    imagenet_overlap,
    overlap_category,
    overlap_sentence,
    overlap_summary,
    overlap_table,
    split_overlap,
    synset_of,
)
from zsb.errors import DataError

REPO = Path(__file__).resolve().parents[2]
SPLIT_FILES = {"sempcyc25": "sketchy_sempcyc_seed0_unseen25.txt", "eccv21": "sketchy_eccv18_yelamarthi_unseen21.txt",
               "sake25": "sketchy_sake_zeroshot1_unseen25.txt"}


def test_synset_list_is_imagenet_1k():
    synsets = imagenet1k_synsets()
    assert len(synsets) == 1000 and "n01440764" in synsets  # tench, the first ImageNet-1k class
    assert "n02690373" in synsets and "n02691156" not in synsets  # airliner; "airplane" is not a 1k class
    assert "n00000001" not in synsets
    assert imagenet1k_wnids()[0] == "n01440764" and imagenet1k_wnids()[999] == "n15075141"  # tench ... toilet tissue


def test_overlap_records_totals_and_per_class_counts_on_known_ids():
    photos = pd.DataFrame({
        "class_name": ["fish", "fish", "fish", "plane", "plane", "unicorn", "unicorn", "drawing"],
        "path": ["/d/fish/n01440764_1.jpg", "/d/fish/n01440764_2.jpg", "/d/fish/n09999999_3.jpg",
                 "/d/plane/n02690373_10151.jpg", "/d/plane/n02690373_77.JPEG",
                 "/d/unicorn/n09999999_1.jpg", "/d/unicorn/n09999999_2.jpg", "/d/drawing/photo_1.jpg"],
    })
    assert imagenet_overlap(photos) == {
        "classes": 4, "photos": 8, "photos_in_imagenet1k": 4, "photos_without_synset_id": 1,
        "per_class": {"drawing": {"photos": 1, "photos_in_imagenet1k": 0},
                      "fish": {"photos": 3, "photos_in_imagenet1k": 2},
                      "plane": {"photos": 2, "photos_in_imagenet1k": 2},
                      "unicorn": {"photos": 2, "photos_in_imagenet1k": 0}},
    }
    assert synset_of("/x/n02691156_10151.jpg") == "n02691156" and synset_of("/x/photo_1.jpg") is None
    assert synset_of("/x/n026911561_1.jpg") is None  # nine digits: not a WordNet id


def test_a_class_is_wholly_partly_concept_only_or_none():
    assert overlap_category(25, 25, False) == "wholly"
    assert overlap_category(25, 1, False) == "partly"  # one photo from an ImageNet-1k synset is not the class
    assert overlap_category(25, 0, True) == "concept only"
    assert overlap_category(25, 0, False) == "none"
    assert overlap_category(25, 0, None) is None and overlap_category(25, 3, None) == "partly"
    per_class = {"bear": {"photos": 4, "photos_in_imagenet1k": 0}, "pear": {"photos": 4, "photos_in_imagenet1k": 0},
                 "violin": {"photos": 4, "photos_in_imagenet1k": 1}, "tiger": {"photos": 4, "photos_in_imagenet1k": 4}}
    assert class_categories(per_class, "sketchy_mini") == {"bear": "concept only", "pear": "none",
                                                           "violin": "partly", "tiger": "wholly"}
    assert class_categories(per_class, "tuberlin_ext")["bear"] is None  # no concept mapping for TU-Berlin
    with pytest.raises(DataError, match="unicorn are missing from sketchy_imagenet1k_concepts.tsv"):
        class_categories({"unicorn": {"photos": 1, "photos_in_imagenet1k": 0}}, "sketchy_ext")


def mapping_rows() -> list[dict]:
    """The committed mapping read with the csv module (not with the code under test)."""
    text = (resources.files("zsb.data") / "sketchy_imagenet1k_concepts.tsv").read_text()
    return list(csv.DictReader([line for line in text.splitlines() if not line.startswith("#")], delimiter="\t"))


def sketchy_mini_photos(root: Path) -> dict[str, list[str]]:
    """Class (split-file spelling) -> the WordNet ids of its photos, by walking the photo folders."""
    photos = {}
    for folder in sorted((root / "photo").iterdir()):
        name = folder.name.lower().replace("-", "_").replace(" ", "_")
        photos[name] = [path.name.split("_")[0] for path in folder.iterdir()]
    return photos


def test_the_concept_mapping_covers_sketchys_classes_and_agrees_with_the_photos(sketchy_mini_root):
    timm_wnids = (resources.files("timm.data") / "_info" / "imagenet_synsets.txt").read_text().split()
    rows = mapping_rows()
    photos = sketchy_mini_photos(sketchy_mini_root)
    assert sorted(row["class"] for row in rows) == sorted(photos) and len(rows) == 125
    assert {name: tuple(w.split(":")[1] for w in row["imagenet1k"].split()) for name, row in
            ((row["class"], row) for row in rows)} == concept_matches("sketchy_mini") == concept_matches("sketchy_ext")
    for row in rows:
        listed = [item.split(":") for item in row["imagenet1k"].split()]
        assert all(timm_wnids[int(index)] == wnid for index, wnid in listed), row["class"]
        from_1k = {wnid for wnid in photos[row["class"]] if wnid in timm_wnids}
        assert from_1k <= {wnid for _, wnid in listed}, row["class"]  # every ImageNet-1k photo synset is listed
        expected_basis = "photos" if from_1k else ("none" if not listed else row["basis"])
        assert row["basis"] == expected_basis and row["basis"] in ("photos", "wordnet", "judged", "none"), row["class"]
        assert not row["basis"] == "judged" or row["note"].startswith("judged"), row["class"]


def test_a_wrong_index_in_the_mapping_is_refused(monkeypatch, tmp_path):
    import zsb.data.imagenet as imagenet

    imagenet1k_wnids()  # read (and cached) before the package files are redirected
    (tmp_path / "bad.tsv").write_text("# comment\nclass\timagenet1k\tbasis\tnote\nbear\t295:n02132136\twordnet\t\n")
    monkeypatch.setitem(imagenet.CONCEPT_FILES, "bad", "bad.tsv")
    monkeypatch.setattr(imagenet.resources, "files", lambda package: tmp_path)
    concept_matches.cache_clear()
    try:
        with pytest.raises(DataError, match="bear' names 295:n02132136, which is not ImageNet-1k class 295"):
            concept_matches("bad")
    finally:
        concept_matches.cache_clear()


def reference_categories(root: Path, split: str) -> dict[str, str]:
    """Each test class's category by a plain loop over the photo file names and the mapping's rows."""
    in_1k = set((resources.files("timm.data") / "_info" / "imagenet_synsets.txt").read_text().split())
    concepts = {row["class"]: row["imagenet1k"] for row in mapping_rows()}
    photos = sketchy_mini_photos(root)
    classes = (REPO / "zsb" / "data" / "splits" / SPLIT_FILES[split]).read_text().split()
    categories = {}
    for name in classes:
        hits = 0
        for wnid in photos[name]:
            if wnid in in_1k:
                hits += 1
        if hits == len(photos[name]):
            categories[name] = "wholly"
        elif hits > 0:
            categories[name] = "partly"
        elif concepts[name]:
            categories[name] = "concept only"
        else:
            categories[name] = "none"
    return categories


@pytest.mark.parametrize("split", ["sempcyc25", "eccv21", "sake25"])
def test_split_overlap_counts_on_sketchy_mini_match_a_plain_loop(sketchy_mini_root, split):
    expected = reference_categories(sketchy_mini_root, split)
    found = split_overlap("sketchy_mini", sketchy_mini_root, split)
    assert found == expected
    counts = {category: list(found.values()).count(category) for category in OVERLAP_CATEGORIES}
    assert counts == {category: list(expected.values()).count(category) for category in OVERLAP_CATEGORIES}
    assert sum(counts.values()) == len(expected) == (21 if split == "eccv21" else 25)


def test_the_overlap_table_has_one_row_per_class_and_split(sketchy_mini_root):
    table = overlap_table("sketchy_mini", sketchy_mini_root, list(SPLIT_FILES))
    assert len(table) == 71 and list(table.columns) == ["split", "class_name", "photos", "photos_in_imagenet1k",
                                                        "category"]
    photos = sketchy_mini_photos(sketchy_mini_root)
    in_1k = imagenet1k_synsets()
    for row in table.itertuples():
        assert row.photos == len(photos[row.class_name])
        assert row.photos_in_imagenet1k == sum(wnid in in_1k for wnid in photos[row.class_name])
        assert row.category == reference_categories(sketchy_mini_root, row.split)[row.class_name]


def test_a_committed_record_without_per_class_counts_is_recomputed_from_the_data(sketchy_mini_root):
    run = REPO / "results" / "sketchy_mini" / "campaign" / "runs" / "sempcyc25"
    record = json.loads((run / "metrics.json").read_text())["imagenet_overlap"]
    parameters = {**json.loads((run / "config.json").read_text())["parameters"], "data_root": str(sketchy_mini_root)}
    assert "per_class" not in record  # written before the per-class counts were kept
    summary = overlap_summary(record, parameters)
    expected = reference_categories(sketchy_mini_root, "sempcyc25")
    assert summary["categories"] == expected
    assert summary["counts"] == {c: list(expected.values()).count(c) for c in OVERLAP_CATEGORIES}
    assert (summary["classes"], summary["photos"], summary["photos_in_imagenet1k"]) == (
        record["classes"], record["photos"], record["photos_in_imagenet1k"])
    with pytest.raises(DataError, match="point data_root at the data the run read"):
        overlap_summary({**record, "photos_in_imagenet1k": record["photos_in_imagenet1k"] + 1}, parameters)


def test_the_sentence_names_wholly_partly_the_photo_share_and_the_concept_count():
    per_class = {"bear": {"photos": 4, "photos_in_imagenet1k": 0}, "pear": {"photos": 4, "photos_in_imagenet1k": 0},
                 "violin": {"photos": 4, "photos_in_imagenet1k": 1}, "tiger": {"photos": 4, "photos_in_imagenet1k": 4}}
    record = {"classes": 4, "photos": 16, "photos_in_imagenet1k": 5, "per_class": per_class}
    summary = overlap_summary(record, {"benchmark": "sketchy_mini"})
    assert overlap_sentence(summary) == (
        "1 of the 4 classes come wholly and 1 partly from ImageNet-1k synsets (5 of 16 photos, 31%), and the concept "
        "of 1 more is an ImageNet-1k class under another synset")
    unmapped = overlap_summary(record, {"benchmark": "tuberlin_ext"})
    assert unmapped["counts"]["concept only"] is None and "not mapped" in overlap_sentence(unmapped)
