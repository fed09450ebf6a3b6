"""The end-to-end reaction benchmark, briefly: three calls to the floor forwarder, to `liveimpro
duet` and to `duet --io-process` on the session's JACK server; every call answered by both, the raw figures written. No
threshold on any time: the script measures, the figures are for reading."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench_e2e.py"


def test_bench_e2e_answers_every_call_of_every_subject(jack_server, tmp_path):
    figures_path = tmp_path / "e2e.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--calls", "3", "--conditions", "quiet",
                           "--server", jack_server.name, "--json", str(figures_path)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    f = json.loads(figures_path.read_text())
    for field in ("machine", "command", "date", "server", "calls", "flood_rate", "hog_cores", "results",
                  "ratio_to_floor", "failed"):
        assert field in f, field
    assert f["server"] == jack_server.name and f["failed"] is None
    assert list(f["results"]) == ["quiet"]
    for subject in ("floor", "liveimpro", "liveimpro-io"):
        r = f["results"]["quiet"][subject]
        assert (r["played"], r["answered"], r["unanswered"]) == (3, 3, 0), (subject, r["calls"], proc.stdout)
        assert len(r["reaction_ms"]) == 3 and all(x > 0 for x in r["reaction_ms"])
        assert 0 < r["median_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert all(c["answer_notes"] >= 1 for c in r["calls"])
        assert r["exit_status"] == 0
    assert f["results"]["quiet"]["liveimpro"]["writes"] is None  # the threads' path: no I/O process's line
    writes = f["results"]["quiet"]["liveimpro-io"]["writes"]  # the I/O process's last line: the answers' writes
    assert writes["after"] == "frame" and writes["events"] >= 6 and 0 <= writes["late_p99_ms"] <= writes["worst_ms"]
    assert "answer events at the port:" in proc.stdout
    for subject in ("liveimpro", "liveimpro-io"):
        assert len(f["results"]["quiet"][subject]["engine_reaction_ms"]) == 3  # duet's status line per answer
        assert set(f["ratio_to_floor"]["quiet"][subject]) == {"median_ms", "p99_ms", "p99_above_floor_ms"}
    for label in ("machine:", "command:", "date:", "conditions:", "ratio liveimpro/floor", "ratio liveimpro-io/floor"):
        assert label in proc.stdout
