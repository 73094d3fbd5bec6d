"""Issue 15: the incident review's first screen is the verdict; what was read moves to an appendix.
Edits only the top cells (title, open + check + verdict) and appends the appendix at the end."""
import json, sys
path = sys.argv[1]
nb = json.load(open(path))
cells = nb["cells"]
src = lambda c: "".join(c["source"])
def lines(text):
    out = text.split("\n")
    return [l + "\n" for l in out[:-1]] + [out[-1]]
def md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": lines(text)}
def code(text):
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": lines(text)}

i_title = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and src(c).startswith("# Incident review"))
i_read = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and src(c).startswith("## 1. What was read"))
i_open = i_read + 1
i_manifests = i_read + 2
assert "evkit.open(" in src(cells[i_open]) or "evkit.analyse(" in src(cells[i_open]) or "prepare_review(" in src(cells[i_open]), src(cells[i_open])
assert "manifests" in src(cells[i_manifests])
i_summary = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and src(c).startswith("## 2. Summary of findings"))
i_check = i_summary + 1
assert "check(" in src(cells[i_check]) and "write_findings" in src(cells[i_check]), src(cells[i_check])

guidance = ("The report reads top-down: the **verdict** (the causes, worst first), a **summary of findings**, the "
            "**timeline**, then **duplicates**, **gaps**, **ordering** and **partition hashing**, each with a plot and "
            "a drill-down. As it stands it reviews the sample incident in `data/`; set the parameters (or pass them "
            "with `evkit report notebooks/incident_review.ipynb -p dataset=DIR --out reports/x`) to review your own "
            "dump, or give `bootstrap` and `topics` to dump a live cluster first. See `docs/notebooks.md`; how "
            "findings are grouped into causes: `docs/causes.md`.")
open_src = src(cells[i_open])
obj = open_src.rstrip().split("\n")[-1].strip()          # the last line shows the analysis: `ds` / `analysis`
open_body = "\n".join(open_src.rstrip().split("\n")[:-1])
check_src = src(cells[i_check])
check_lines = [l for l in check_src.split("\n") if "check(" in l or "write_findings(" in l]
rest_lines = [l for l in check_src.split("\n") if l not in check_lines and "to_text" not in l]
manifests_src = src(cells[i_manifests])

verdict_cell = code(open_body.replace("from evkit.reporting.runner import prepare_review, write_findings",
                                      "from evkit.reporting.runner import prepare_review, write_findings\nfrom evkit.reporting.verdict import verdict")
                    + "\n" + "\n".join(check_lines) + f"\nverdict({obj}, check_report)")
assert "from evkit.reporting.verdict import verdict" in "".join(verdict_cell["source"])
summary_code = code("\n".join(rest_lines + ["causes_table(check_report)"]).strip()
                    .replace("\ncauses_table", "\nfrom evkit.reporting.verdict import causes_table\ncauses_table", 1)
                    if rest_lines else "from evkit.reporting.verdict import causes_table\ncauses_table(check_report)")
new_summary_md = md("## 2. Summary of findings\n\nThe causes (docs/causes.md) as a table, then every check's findings by severity: "
                    "the same findings `evkit check` prints and the report's findings JSON holds, each with its `cause`.")

appendix = [
    md("## Appendix: what was read\n\n" + guidance + "\n\nThe datasets, their topics and how completely each event field "
       "was found, then every dumped range from the run manifests."),
    code(obj),
    code(manifests_src),
]
cells[i_check] = summary_code
cells[i_summary] = new_summary_md
new_top = [md("# Incident review\n\n## 1. Verdict"), cells[i_title + 1] if "parameters" in cells[i_title + 1].get("metadata", {}).get("tags", []) else None]
assert new_top[1] is not None
# rebuild: title, parameters, verdict, then everything from the summary section on, then the appendix
rest = cells[i_summary:]
nb["cells"] = [new_top[0], new_top[1], verdict_cell] + cells[i_title + 2:i_read] + rest + appendix
json.dump(nb, open(path, "w"), indent=1, ensure_ascii=False)
open(path, "a").write("\n")
print("patched", path)
