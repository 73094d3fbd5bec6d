"""Phase 2 Python edits (issue 15). Usage: patch_python.py ROOT"""
import sys
ROOT = sys.argv[1]

def edit(path, old, new, count=1):
    path = f"{ROOT}/{path}"
    s = open(path).read()
    assert s.count(old) == count, (path, old[:80], s.count(old))
    open(path, 'w').write(s.replace(old, new))

F = "evkit/analysis/findings.py"
edit(F, """from dataclasses import dataclass
""", """from dataclasses import dataclass, field
""")
edit(F, """    out["detail"] = row["detail"]
    return out
""", """    out["detail"] = row["detail"]
    if row.get("facts") is not None:  # structured facts for grouping into causes (docs/causes.md)
        out["facts"] = json.loads(row["facts"]) if isinstance(row["facts"], str) else row["facts"]
    return out
""")
edit(F, """    offset_gaps: dict[str, int] | None
""", """    offset_gaps: dict[str, int] | None
    causes: list[dict] = field(default_factory=list)  # docs/causes.md, worst first; each finding has its `cause`
""")
edit(F, """                "findings": {name: {s: counts[name, s] for s in reversed(SEVERITY_RANK)} for name in self.run},
                "offset_gaps": self.offset_gaps}
""", """                "findings": {name: {s: counts[name, s] for s in reversed(SEVERITY_RANK)} for name in self.run},
                "offset_gaps": self.offset_gaps,
                "causes": self.causes}
""")
edit(F, """    def to_text(self, *, limit: int = 20) -> str:
        \"\"\"Counts per check and severity, offset gaps, skipped checks, field coverage problems, then the
        worst findings.\"\"\"
        counts = Counter((f["check"], f["severity"]) for f in self.findings)
        lines = [f"{len(self.findings)} finding(s)" + (":" if counts else "")]
""", """    def causes_text(self) -> list[str]:
        \"\"\"The causes, worst first, two lines each (docs/causes.md).\"\"\"
        return causes_lines(self.causes)

    def to_text(self, *, limit: int = 20) -> str:
        \"\"\"The causes worst first, then counts per check and severity, offset gaps, skipped checks,
        field coverage problems, then the worst findings.\"\"\"
        counts = Counter((f["check"], f["severity"]) for f in self.findings)
        lines = self.causes_text() + [""] if self.findings else []
        lines += [f"{len(self.findings)} finding(s)" + (":" if counts else "")]
""")
edit(F, """                lines.append(f"  [{f['severity']}] {f['check']} {where}: {f['detail']}")
        return "\\n".join(lines)
""", """                lines.append(f"  [{f['severity']}] {f['check']} {where}: {f['detail']}")
        return "\\n".join(lines)

    def __repr__(self) -> str:
        counts = Counter(f["severity"] for f in self.findings)
        by = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITY_RANK) if counts[s])
        head = (f"<CheckReport: {len(self.findings):,} finding(s)" + (f" ({by})" if by else "")
                + f", {len(self.causes)} cause(s), exit code {self.exit_code}>")
        return "\\n".join([head, *self.causes_text()]) if self.causes else head

    def _repr_html_(self) -> str:
        from .causes import to_html

        return to_html(self.causes) + f"<p>{len(self.findings):,} finding(s); exit code {self.exit_code}. " \\
            "<code>.findings</code> has every finding, <code>.to_text()</code> the counts.</p>"
""")
edit(F, """def skipped_lines(""", """def causes_lines(causes: list[dict]) -> list[str]:
    from .causes import to_text

    return to_text(causes)


def skipped_lines(""")

S = "evkit/analysis/session.py"
edit(S, """        for names in tqdm(runnable.values(), desc="checks", unit="check", disable=self.quiet, file=sys.stderr):
            relation = self.findings(sorted(names))
            columns = relation.columns""", """        for names in tqdm(runnable.values(), desc="checks", unit="check", disable=self.quiet, file=sys.stderr):
            relation = self.findings(sorted(names), facts=True)
            columns = relation.columns""")
edit(S, """        findings.sort(key=lambda f: -SEVERITY_RANK[f["severity"]])
""", """        findings.sort(key=lambda f: -SEVERITY_RANK[f["severity"]])
        findings, found_causes = group_causes(findings)
""")
edit(S, """        return CheckReport(findings, coverage, fail_on, records, run, skipped, gaps)
""", """        return CheckReport(findings, coverage, fail_on, records, run, skipped, gaps, found_causes)

    def causes(self, checks: Iterable[str] | str | None = None) -> list[dict]:
        \"\"\"The findings of the selected checks (default all) grouped into causes, worst first
        (docs/causes.md); `check()` gives them too, as `.causes`, with each finding's `cause` id.\"\"\"
        return self.check(checks).causes
""")
edit(S, """    def findings(self, checks: Iterable[str] | None = None) -> duckdb.DuckDBPyRelation:
        \"\"\"Every finding of the selected checks (default all), worst first, in the findings contract.\"\"\"
        parts = []
        for check, names in registry.select(checks).items():
            self.use(check.name)
            wanted = ", ".join(sql_string(n) for n in sorted(names))
            parts.append(f'SELECT {registry.FINDING_COLUMNS} FROM {check.name}_findings WHERE "check" IN ({wanted})')""",
"""    def findings(self, checks: Iterable[str] | None = None, *, facts: bool = False) -> duckdb.DuckDBPyRelation:
        \"\"\"Every finding of the selected checks (default all), worst first, in the findings contract;
        `facts=True` adds the column `facts` (JSON, null for a check without facts: docs/causes.md).\"\"\"
        parts = []
        for check, names in registry.select(checks).items():
            self.use(check.name)
            wanted = ", ".join(sql_string(n) for n in sorted(names))
            extra = ""
            if facts:
                has = any(row[0] == "facts" for row in self.connection.execute(f"DESCRIBE {check.name}_findings").fetchall())
                extra = ", facts::JSON AS facts" if has else ", NULL::JSON AS facts"
            parts.append(f'SELECT {registry.FINDING_COLUMNS}{extra} FROM {check.name}_findings WHERE "check" IN ({wanted})')""")
edit(S, """from . import registry
""", """from . import registry
from .causes import group as group_causes
""")
print("patched", ROOT)
