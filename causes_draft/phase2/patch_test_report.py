"""tests/reporting/test_report.py for issue 15: the verdict first, the appendix last, and the first
1280x800 viewport of the sample's report holding every cause's summary. Usage: patch_test_report.py ROOT"""
import sys
path = f"{sys.argv[1]}/tests/reporting/test_report.py"
s = open(path).read()

def edit(old, new):
    global s
    assert s.count(old) == 1, old[:80]
    s = s.replace(old, new)

edit('SECTIONS = ["1. What was read", "2. Summary of findings"', 'SECTIONS = ["1. Verdict", "2. Summary of findings"')
start = s.index("SECTIONS = [")
end = s.index("]", start)
sections = s[start:end]
if "Appendix: what was read" not in sections:
    s = s[:end] + ', "Appendix: what was read"' + s[end:]
edit('''def test_findings_json_is_what_evkit_check_reports(demo):''', '''# Run in a copy of the report (the report itself has no script): where each cause's summary sits.
VIEWPORT_PROBE = """<script>
window.addEventListener('load', () => {
  const causes = [...document.querySelectorAll('.evkit-verdict .evkit-cause-summary')].map(e => {
    const r = e.getBoundingClientRect();
    return {text: e.textContent, top: r.top + window.scrollY, bottom: r.bottom + window.scrollY};
  });
  const pre = document.createElement('pre');
  pre.id = 'evkit-viewport';
  pre.textContent = JSON.stringify({width: window.innerWidth, causes: causes});
  document.body.appendChild(pre);
});
</script>"""


def test_the_first_screen_holds_every_cause_worst_first(demo, tmp_path):
    """A reviewer opening the report at 1280x800 sees every cause's summary without scrolling."""
    from html import unescape

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: `make test` installs it when run as root, else `apt-get install chromium`")
    summary = json.loads((demo[0] / "summary.json").read_text())
    assert [c["kind"] for c in summary["causes"]] == ["partitioner", "lost_events", "republication", "key_encoding",
                                                     "late_events", "silence"]
    probe = tmp_path / "probe.html"
    probe.write_text((demo[0] / "incident_review.html").read_text().replace("</body>", VIEWPORT_PROBE + "</body>"))
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,800", "--dump-dom", probe.as_uri()],
        check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    shown = json.loads(unescape(re.search(r'<pre id="evkit-viewport">(.*?)</pre>', done.stdout, re.S).group(1)))
    assert shown["width"] == 1280
    assert [c["text"] for c in shown["causes"]] == [c["summary"] for c in summary["causes"]]
    assert [c["text"] for c in shown["causes"] if c["bottom"] > 800] == []


def test_findings_json_is_what_evkit_check_reports(demo):''')
open(path, "w").write(s)
print("patched", path)
