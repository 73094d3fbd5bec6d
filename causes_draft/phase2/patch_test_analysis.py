"""tests/analysis/test_analysis.py for issue 15: findings now carry `facts` and `cause`, the summary
`causes`, and the text starts with the causes. Usage: patch_test_analysis.py ROOT"""
import sys
path = f"{sys.argv[1]}/tests/analysis/test_analysis.py"
s = open(path).read()

def edit(old, new, count=1):
    global s
    assert s.count(old) == count, (old[:80], s.count(old))
    s = s.replace(old, new)

edit('''def findings(root, **options) -> list[dict]:
    options.setdefault("checks", ANALYSIS_CHECKS)
    return evkit.check(root, fields=options.pop("fields", FIELDS), quiet=True, **options).findings''',
'''def findings(root, **options) -> list[dict]:
    """The findings without their facts and cause ids (tests/analysis/test_causes.py tests those)."""
    options.setdefault("checks", ANALYSIS_CHECKS)
    found = evkit.check(root, fields=options.pop("fields", FIELDS), quiet=True, **options).findings
    return [{k: v for k, v in f.items() if k not in ("facts", "cause")} for f in found]''')
edit('''                     for name in ("duplicate", "field_coverage", "offset_gap", "out_of_order", "silence")},
        "offset_gaps": NO_GAPS}''', '''                     for name in ("duplicate", "field_coverage", "offset_gap", "out_of_order", "silence")},
        "offset_gaps": NO_GAPS, "causes": []}''')
edit('''                     "sequence_regression": {"error": 0, "warning": 0, "info": 0}},
        "offset_gaps": NO_GAPS}''', '''                     "sequence_regression": {"error": 0, "warning": 0, "info": 0}},
        "offset_gaps": NO_GAPS, "causes": []}''')
edit('''    assert report.to_text().splitlines()[:3] == [
        "1 finding(s):", "  offset_gap           warning  1", "offset gaps: 1, not all explained: 1 unexplained gap"]''',
'''    text = report.to_text().splitlines()
    assert text[0] == "1 cause of 1 finding, worst first:"  # the causes come first (docs/causes.md)
    start = text.index("1 finding(s):")
    assert text[start:start + 3] == [
        "1 finding(s):", "  offset_gap           warning  1", "offset gaps: 1, not all explained: 1 unexplained gap"]''')
open(path, "w").write(s)
print("patched", path)
