"""The training log: one reader and writer for train_log.jsonl, and its table for figures."""

import pytest

from zsb import trainlog
from zsb.errors import DataError


def test_write_then_read_round_trips_and_missing_file_is_empty(tmp_path):
    path = tmp_path / "run" / trainlog.LOG_NAME
    assert trainlog.read_log(path) == []
    records = [{"epoch": 1, "loss/total": 2.5, "lr_backbone": 3e-4}, {"epoch": 2, "loss/total": 2.0, "lr_backbone": 1e-4}]
    trainlog.write_log(path, records)
    assert trainlog.read_log(path) == records
    assert path.read_text().count("\n") == 2
    assert sorted(p.name for p in path.parent.iterdir()) == [trainlog.LOG_NAME]  # no temporary file left


def test_read_log_names_a_bad_line(tmp_path):
    path = tmp_path / trainlog.LOG_NAME
    path.write_text('{"epoch": 1, "loss/total": 1.0}\n\n[1, 2]\n')
    with pytest.raises(DataError, match="line 3"):
        trainlog.read_log(path)
    path.write_text('{"epoch": 1, "loss/total": 1.0}\n{"epoch": 2, "loss/to\n')
    with pytest.raises(DataError, match="line 2"):
        trainlog.read_log(path)


def test_log_frame_sorts_keeps_last_repeat_and_finds_lr_columns(tmp_path):
    table = trainlog.log_frame([
        {"epoch": 2, "loss/total": 1.0, "lr_backbone": 1e-4},
        {"epoch": 1, "loss/total": 3.0, "lr_backbone": 3e-4, "lr": 1e-3, "lr_note": "x", "lrx": 1.0},
        {"epoch": 2, "loss/total": 0.5, "lr_backbone": 2e-4},
    ])
    assert table["epoch"].tolist() == [1, 2] and table["loss/total"].tolist() == [3.0, 0.5]
    assert trainlog.lr_columns(table) == ["lr_backbone", "lr"]
    with pytest.raises(DataError, match="does not exist"):
        trainlog.log_frame(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="loss/"):
        trainlog.log_frame([{"epoch": 0, "accuracy": 0.5}])
    with pytest.raises(DataError, match="epoch"):
        trainlog.log_frame([{"loss/total": 1.0}])
