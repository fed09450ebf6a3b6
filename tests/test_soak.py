"""The soak script, briefly: a player process against `liveimpro duet` on the session's JACK server,
short, quick random calls for 21 s; every answer note released, the figures printed and written."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[1] / "scripts" / "soak.py"


def test_short_soak_answers_and_leaves_no_note_sounding(jack_server, tmp_path):
    figures_path = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, str(SOAK), "--minutes", "0.35", "--server", jack_server.name,
                           "--max-notes", "8", "--bpm", "120", "180", "--length-ratio", "0.5", "--seed", "3",
                           "--json", str(figures_path), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    f = json.loads(figures_path.read_text())
    assert f["stuck_notes"] == 0 and f["stuck"] == []
    assert f["calls"] >= 2 and f["answered"] >= 2, proc.stdout  # a round takes 4..12 s
    # 0: a standby note the I/O process (duet's default on JACK) played at the footswitch's own frame
    assert f["reaction_ms"]["n"] >= 2 and 0 <= f["reaction_ms"]["p50"] <= f["reaction_ms"]["max"]
    assert f["answer_after_last_note_off_ms"]["n"] + f["answer_after_end_cc_ms"]["n"] >= 2
    assert f["messages"]["player_sent"] > 0 and f["messages"]["dropped"] == 0
    assert f["rss_mb"]["start"] > 0 and f["rss_mb"]["end"] > 0
    assert f["session"]["valid"] and f["duet_exit"]["status"] == 0 and not f["duet_exit"]["hung"]
    for label in ("calls played", "reaction, engine", "stuck notes", "duet RSS", "session file"):
        assert label in proc.stdout
    assert "result: ok" in proc.stdout
