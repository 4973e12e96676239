"""The project can be cited and reused: LICENSE matches pyproject's licence; CITATION.cff cites zsb, the paper and
the datasets."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_licence_file_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert declared == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_citation_file_asks_for_the_paper_and_the_datasets():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    assert citation["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    paper = citation["preferred-citation"]
    assert paper["doi"] == "10.1016/j.patcog.2022.108528" and paper["volume"] == 126 and paper["start"] == 108528
    assert [a["family-names"] for a in paper["authors"]] == ["Tursun", "Denman", "Sridharan", "Goan", "Fookes"]
    first_authors = {ref["authors"][0]["family-names"]: ref["year"] for ref in citation["references"]}
    assert first_authors == {"Sangkloy": 2016, "Eitz": 2012, "Dey": 2019}
