import sys
src = open('/work/main/causes_draft/causes.py').read()
src = src.replace('''"""Group evkit findings into causes (docs/causes.md): pure Python over finding dicts.

`group(findings)` returns `(findings_with_cause, causes)`: a copy of every finding with a `cause`
id, and the causes worst first. The rules read only the findings' fields and their optional
structured `facts`; they never parse `detail`. Standard library only, no evkit import: this module
moves into the package (issue 12's layout) unchanged but for its path.
"""''', '''"""Group findings into causes (docs/causes.md): pure Python over finding dicts.

`group(findings)` returns `(findings_with_cause, causes)`: a copy of every finding with a `cause`
id, and the causes worst first. The rules read only the findings' fields and their optional
structured `facts` (the checks' SQL writes them); they never parse `detail`. Standard library only:
tests/reference/causes.py writes the same rules a second time and the differential test
(tests/analysis/test_causes.py) compares the two.
"""''')
src = src.replace("def _counts_text(cause)", "def counts_text(cause)").replace("_counts_text(", "counts_text(")
open(sys.argv[1], 'w').write(src)
