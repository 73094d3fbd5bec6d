"""evkit/reporting/plots.py for issue 15: a distinct marker per check, and findings that span a topic's
partitions (split keys, partitioners, key encodings, lost sequences across partitions) on a lane of
their topic instead of nowhere. Usage: patch_plots.py ROOT"""
import sys
path = f"{sys.argv[1]}/evkit/reporting/plots.py"
s = open(path).read()

def edit(old, new):
    global s
    assert s.count(old) == 1, old[:80]
    s = s.replace(old, new)

start = s.index("FINDING_MARKERS = {")
end = s.index("}\n", start) + 2
s = s[:start] + '''FINDING_MARKERS = {  # one marker shape and colour per check, so no two checks look alike
    "duplicate": ("x", "tab:red", "duplicate"),
    "offset_gap": ("|", "tab:orange", "offset gap"),
    "sequence_gap": ("P", "darkorange", "sequence gap (lost/unseen)"),
    "sequence_regression": ("v", "tab:purple", "sequence regression"),
    "out_of_order": ("<", "magenta", "late / out of order"),
    "silence": ("s", "tab:gray", "silence"),
    "split_key": ("D", "tab:brown", "key split over partitions"),
    "partitioner": ("*", "black", "partitioner disagreement"),
    "key_encoding": ("h", "olive", "key in two encodings"),
    "partition_count_change": ("p", "tab:cyan", "partition count change"),
    "rate": ("^", "crimson", "rate exceeded"),
    "size": ("o", "teal", "value size"),
    "flow": (">", "navy", "flow (missing/late/repeated)"),
    "field_coverage": ("1", "dimgray", "field coverage"),
}
TOPIC_LANE = "{topic} (all partitions)"  # the lane of a topic's findings that name no one partition
''' + s[end:]
edit('''    if lane == "partition":
        marks = to_frame(findings, ["check", "topic", "partition", "first_ts", "last_ts"])
        marks = marks[marks["partition"].notna()]
        marks["lane"] = lane_names(marks, "partition")
        return marks''', '''    if lane == "partition":
        marks = to_frame(findings, ["check", "topic", "partition", "first_ts", "last_ts"])
        marks = marks[marks["first_ts"].notna()].copy()  # field coverage has no time
        spanning = marks["partition"].isna()
        marks["lane"] = marks["topic"].astype(str).map(lambda topic: TOPIC_LANE.format(topic=topic))
        marks.loc[~spanning, "lane"] = lane_names(marks[~spanning], "partition")
        return marks''')
edit('''    frame["lane"] = lane_names(frame, lane)
    lanes = sorted(frame["lane"].unique())[:max_lanes]''', '''    frame["lane"] = lane_names(frame, lane)
    marks = finding_lanes(findings, lane) if findings is not None else None
    names = set(frame["lane"].unique()) | (set(marks["lane"].unique()) if marks is not None else set())
    lanes = sorted(names)[:max_lanes]  # a topic's own lane sorts just before its partitions' lanes''')
edit('''    if findings is not None:
        marks = finding_lanes(findings, lane)
        for check''', '''    if marks is not None:
        for check''')
open(path, "w").write(s)
print("patched", path)
