"""The runtime's log store: names checked before a path is built, rotation, bounded reads."""
from __future__ import annotations

import pytest

from faasml.errors import BadRequest
from faasml.runtime import logstore
from faasml.runtime.logstore import LogStore
from faasml.runtime.names import path_part


@pytest.mark.parametrize("name", ["../..", "..", "a/b", "/etc", ".hidden", "a..b", "", "A" * 300, "x\n"])
def test_names_that_could_leave_the_folder_are_refused(tmp_path, name):
    store = LogStore(tmp_path / "logs")
    with pytest.raises(BadRequest) as refused:
        store.read(name, "openfaas-fn")
    assert refused.value.code == "bad_name"
    with pytest.raises(BadRequest):
        store.append("ok", name, "i", "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"] and not list((tmp_path / "logs").iterdir())


def test_ordinary_names_pass():
    assert path_part("efficientnet-lite0-int8.openfaas-fn") == "efficientnet-lite0-int8.openfaas-fn"


def test_a_log_rotates_and_reads_stay_bounded(tmp_path, monkeypatch):
    store = LogStore(tmp_path, max_bytes=2000, backups=2)
    for i in range(200):
        store.append("f", "openfaas-fn", "i", f"line {i}")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["f.openfaas-fn.log", "f.openfaas-fn.log.1", "f.openfaas-fn.log.2"]
    assert all(p.stat().st_size <= 2300 for p in tmp_path.iterdir())
    records = store.read("f", "openfaas-fn")
    texts = [r["text"] for r in records]
    assert texts[-1] == "line 199" and texts == sorted(texts, key=lambda t: int(t.split()[1]))
    assert [r["text"] for r in store.read("f", "openfaas-fn", tail=3)] == ["line 197", "line 198", "line 199"]
    monkeypatch.setattr(logstore, "MAX_RECORDS", 5)
    assert len(store.read("f", "openfaas-fn")) == 5 and store.read("f", "openfaas-fn")[-1]["text"] == "line 199"
    store.close()
