"""Plots for the places where a person would rather look than read.

Each function takes a DuckDB relation or a pandas DataFrame (a relation is reduced to the columns
the plot needs before it is fetched) and returns a matplotlib Figure; nothing is shown or saved, so
the same functions serve notebooks and headless reports; a notebook cell that ends with the call
shows the plot.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

# How each finding is drawn on a timeline: (marker, colour, label).
FINDING_MARKERS = {  # one marker shape and colour per check, so no two checks look alike
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
    "schema_drift": ("d", "darkgreen", "schema change"),
}
TOPIC_LANE = "{topic} (all partitions)"  # the lane of a topic's findings that name no one partition
CAUSE_BANDS = ("gold", "lightskyblue", "lightgreen", "plum")  # the highlighted causes of a timeline


def to_frame(data, columns: list[str]) -> pd.DataFrame:
    """The given columns of a DuckDB relation or DataFrame as a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data[columns].copy()
    return data.select(", ".join(f'"{c}"' for c in columns)).df()


def finish(fig: plt.Figure) -> plt.Figure:
    """Lay the figure out and detach it from pyplot: the caller shows it (a notebook shows a returned
    Figure once) or saves it, and scripts that draw many plots do not pile up open figures."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def lane_names(frame: pd.DataFrame, lane: str) -> pd.Series:
    """`topic/partition` lanes, or the entity itself."""
    if lane == "partition":
        return frame["topic"].astype(str) + "/" + frame["partition"].astype("Int64").astype(str)
    return frame[lane].astype(str)


def finding_lanes(findings, lane: str) -> pd.DataFrame:
    """Findings with the lane they belong on: their topic/partition, or per entity their key as text."""
    if lane == "partition":
        marks = to_frame(findings, ["check", "topic", "partition", "first_ts", "last_ts"])
        marks = marks[marks["first_ts"].notna()].copy()  # field coverage has no time
        spanning = marks["partition"].isna()
        marks["lane"] = marks["topic"].astype(str).map(lambda topic: TOPIC_LANE.format(topic=topic))
        marks.loc[~spanning, "lane"] = lane_names(marks[~spanning], "partition")
        return marks
    marks = to_frame(findings, ["check", "key", "first_ts", "last_ts"])
    marks = marks[marks["key"].notna()]
    marks["lane"] = marks["key"].map(lambda key: bytes(key).decode("utf-8", "replace"))
    return marks


def timeline(events, findings=None, *, lane: str = "partition", time: str = "timestamp",
             max_lanes: int = 40, causes: list[dict] | None = None) -> plt.Figure:
    """Swimlanes: one row per topic/partition (or per entity with `lane="entity"`), a dot per event
    at its `time`, and each finding drawn on its lane at its first and last timestamp (per entity, on
    the lane named by the finding's key, which is the entity whenever the entity is the record key or
    the check reports entities). `causes` (docs/causes.md, as `CheckReport.causes`) are highlighted:
    a band over each one's time span, labelled with its number in the report."""
    columns = ["topic", "partition", time] if lane == "partition" else [lane, time]
    frame = to_frame(events, columns).dropna(subset=[time])
    frame["lane"] = lane_names(frame, lane)
    marks = finding_lanes(findings, lane) if findings is not None else None
    names = set(frame["lane"].unique()) | (set(marks["lane"].unique()) if marks is not None else set())
    lanes = sorted(names)[:max_lanes]  # a topic's own lane sorts just before its partitions' lanes
    position = {name: n for n, name in enumerate(lanes)}
    fig, ax = plt.subplots(figsize=(12, 0.35 * len(lanes) + 1.5))
    shown = frame[frame["lane"].isin(position)]
    ax.scatter(shown[time], shown["lane"].map(position), s=4, color="tab:blue", alpha=0.35, label="event", linewidths=0)
    if marks is not None:
        for check, group in marks[marks["lane"].isin(position)].groupby("check"):
            marker, colour, label = FINDING_MARKERS.get(check, ("D", "black", check))
            stamps = pd.concat([group[["first_ts", "lane"]].rename(columns={"first_ts": "ts"}),
                                group[["last_ts", "lane"]].rename(columns={"last_ts": "ts"})])
            ax.scatter(stamps["ts"], stamps["lane"].map(position), marker=marker, s=80, color=colour, label=label)
    for number, cause in enumerate(causes or (), 1):
        if cause.get("first_ts") and cause.get("last_ts"):
            start, end = (pd.Timestamp(cause[k]) for k in ("first_ts", "last_ts"))
            if end - start < pd.Timedelta(seconds=5):  # a band a few pixels wide at least
                start, end = start - pd.Timedelta(seconds=2.5), end + pd.Timedelta(seconds=2.5)
            ax.axvspan(start, end, color=CAUSE_BANDS[(number - 1) % len(CAUSE_BANDS)], alpha=0.18, linewidth=0,
                       label=f"cause {cause.get('number', number)}: {cause['kind']}")
    ax.set_yticks(range(len(lanes)), lanes)
    ax.invert_yaxis()
    ax.set_xlabel(f"{time} (UTC)")
    ax.set_title(f"Timeline per {lane}" + (f" (first {max_lanes} lanes)" if len(position) == max_lanes else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return finish(fig)


def event_rate(events, *, by: str = "topic", time: str = "timestamp", bucket: str = "10s") -> plt.Figure:
    """Events per `bucket` over time, one line per `by` value: bursts and silences stand out."""
    frame = to_frame(events, [by, time]).dropna(subset=[time])
    counts = frame.groupby([pd.Grouper(key=time, freq=bucket), by]).size().unstack(by, fill_value=0)
    fig, ax = plt.subplots(figsize=(12, 4))
    counts.plot(ax=ax, linewidth=1)
    ax.set_ylabel(f"events per {bucket}")
    ax.set_xlabel(f"{time} (UTC)")
    ax.set_title(f"Event rate by {by}")
    return finish(fig)


def lateness(events, *, by: str = "topic", bins: int = 50) -> plt.Figure:
    """Distribution of broker time minus event time (seconds, log-scaled counts): the long tail is
    the late events."""
    frame = to_frame(events, [by, "timestamp", "event_time"]).dropna()
    frame["lateness_s"] = (frame["timestamp"] - frame["event_time"]).dt.total_seconds()
    fig, ax = plt.subplots(figsize=(10, 4))
    for name, group in frame.groupby(by):
        ax.hist(group["lateness_s"], bins=bins, histtype="step", label=str(name), log=True)
    ax.set_xlabel("broker timestamp - event time (s)")
    ax.set_ylabel("events")
    ax.set_title("Lateness")
    ax.legend(fontsize="small")
    return finish(fig)


def value_sizes(records, *, top: int = 5) -> plt.Figure:
    """Value size over time of the `top` keys with the largest values: a document that keeps growing
    climbs instead of staying flat."""
    frame = to_frame(records, ["topic", "key_text", "timestamp", "value_size"]).dropna()
    frame["series"] = frame["topic"] + " / " + frame["key_text"]
    largest = frame.groupby("series")["value_size"].max().nlargest(top).index
    fig, ax = plt.subplots(figsize=(10, 4))
    for name in largest:
        series = frame[frame["series"] == name].sort_values("timestamp")
        ax.plot(series["timestamp"], series["value_size"], label=name)
    ax.set_ylabel("value bytes")
    ax.set_xlabel("timestamp (UTC)")
    ax.set_title(f"Value size of the {top} largest keys")
    ax.legend(fontsize="small")
    return finish(fig)


def key_partition_map(records, *, topic: str | None = None, producer_header: str = "producer",
                      max_keys: int = 40) -> plt.Figure:
    """Keys x partitions, one dot per key, partition and producer (the `producer_header` header's
    value), coloured by producer: a key split across partitions is a row with dots in several
    columns, and the colours say which producer put it where. Keys on the most partitions come
    first; `topic` defaults to the topic with the most split keys. A DataFrame needs the columns
    topic, key (text), partition, producer and records."""
    if isinstance(records, pd.DataFrame):
        frame = records[["topic", "key", "partition", "producer", "records"]].copy()
    else:
        header = "'" + producer_header.replace("'", "''") + "'"
        frame = records.query("key_partition_records", f"""
            SELECT topic, partition,
                   CASE WHEN NOT regexp_matches(try(decode(key)), '[\\x00-\\x1f\\x7f]') THEN decode(key)
                        ELSE '0x' || lower(hex(key)) END AS key,
                   coalesce(try(decode(list_filter(headers, lambda h: h.key = {header})[-1].value)), '(no header)') AS producer,
                   count(*) AS records
            FROM key_partition_records WHERE key IS NOT NULL GROUP BY ALL""").df()
    spread = frame.groupby(["topic", "key"])["partition"].nunique().rename("partitions").reset_index()
    if topic is None:
        topic = spread.assign(split=spread["partitions"] > 1).groupby("topic")["split"].sum().idxmax()
    shown = spread[spread["topic"] == topic].merge(
        frame[frame["topic"] == topic].groupby("key")["records"].sum().reset_index(), on="key")
    shown = shown.sort_values(["partitions", "records"], ascending=False).head(max_keys)
    row = {key: n for n, key in enumerate(shown["key"])}
    cells = frame[(frame["topic"] == topic) & frame["key"].isin(row)]
    producers = sorted(cells["producer"].unique())
    partitions = int(frame.loc[frame["topic"] == topic, "partition"].max()) + 1
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * partitions + 4), 0.28 * len(row) + 1.6))
    for n, producer in enumerate(producers):
        mine = cells[cells["producer"] == producer]
        nudge = (n - (len(producers) - 1) / 2) * 0.7 / max(len(producers), 1)
        ax.scatter(mine["partition"] + nudge, mine["key"].map(row), s=28, label=producer)
    ax.set_yticks(range(len(row)), list(row))
    ax.set_xticks(range(partitions))
    ax.set_xlim(-0.6, partitions - 0.4)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("partition")
    split = int((shown["partitions"] > 1).sum())
    ax.set_title(f"{topic}: where each key landed ({split} of {len(row)} keys shown are split)")
    ax.legend(title="producer", fontsize="small", bbox_to_anchor=(1.01, 1), loc="upper left")
    return finish(fig)


# --- rules (docs/rules.md) -----------------------------------------------------------------------

def rate_windows(windows, *, top: int = 3) -> plt.Figure:
    """Per rate rule, the events in the sliding window that starts at each event of its `top` worst
    groups, over time, with the rule's limit drawn: `windows` has rule, group_label, t (epoch ms),
    events, max_events, window_text (Analysis.rate_windows())."""
    frame = to_frame(windows, ["rule", "group_label", "t", "events", "max_events", "window_text"])
    rules = sorted(frame["rule"].unique())
    fig, axes = plt.subplots(max(len(rules), 1), 1, figsize=(12, 3 * max(len(rules), 1)), squeeze=False)
    if not rules:
        axes[0][0].text(0.5, 0.5, "no rate rule exceeded", ha="center", va="center")
        axes[0][0].set_axis_off()
    for ax, rule in zip(axes[:, 0], rules):
        rows = frame[frame["rule"] == rule].copy()
        rows["time"] = pd.to_datetime(rows["t"], unit="ms", utc=True)
        worst = rows.groupby("group_label")["events"].max().nlargest(top).index
        for label in worst:
            series = rows[rows["group_label"] == label].sort_values("time")
            ax.step(series["time"], series["events"], where="post", label=str(label))
        limit = int(rows["max_events"].iloc[0])
        ax.axhline(limit, color="tab:red", linestyle="--", label=f"limit {limit}")
        ax.set_ylabel(f"events per {rows['window_text'].iloc[0]}")
        ax.set_title(f"rate {rule}: events in the window starting at each event")
        ax.legend(fontsize="small")
    axes[-1][0].set_xlabel("time (UTC)")
    return finish(fig)


def size_growth(versions) -> plt.Figure:
    """Value size over time of each growing document (Analysis.size_versions(growing=True)): topic,
    key_text, t (epoch ms), value_size."""
    frame = to_frame(versions, ["topic", "key_label", "t", "value_size"])
    fig, ax = plt.subplots(figsize=(10, 4))
    if frame.empty:
        ax.text(0.5, 0.5, "no growing document", ha="center", va="center")
        ax.set_axis_off()
        return finish(fig)
    frame["time"] = pd.to_datetime(frame["t"], unit="ms", utc=True)
    for (topic, key), series in frame.groupby(["topic", "key_label"]):
        series = series.sort_values("time")
        ax.plot(series["time"], series["value_size"], marker=".", markersize=3, label=f"{topic} / {key}")
    ax.set_ylabel("value bytes")
    ax.set_xlabel("time (UTC)")
    ax.set_title("Growing documents: size of each version")
    ax.legend(fontsize="small")
    return finish(fig)


FUNNEL = (("causes", "tab:blue"), ("in_time", "tab:green"), ("late", "tab:orange"), ("missing", "tab:red"),
          ("pending", "tab:gray"))


def flow_funnel(funnel) -> plt.Figure:
    """Per flow: causes -> causes with an effect in time -> late -> missing (and pending), as bars
    (Analysis.flow_funnel()): rule, causes, in_time, late, missing, pending, repeated, orphans."""
    frame = to_frame(funnel, ["rule", *(name for name, _ in FUNNEL), "repeated", "orphans"])
    fig, ax = plt.subplots(figsize=(10, 1 + 1.2 * max(len(frame), 1)))
    if frame.empty:
        ax.text(0.5, 0.5, "no flow rule", ha="center", va="center")
        ax.set_axis_off()
        return finish(fig)
    height = 0.8 / len(FUNNEL)
    for index, (name, colour) in enumerate(FUNNEL):
        positions = [row + index * height for row in range(len(frame))]
        bars = ax.barh(positions, frame[name], height=height, color=colour, label=name.replace("_", " "))
        ax.bar_label(bars, fontsize="x-small", padding=2)
    ax.set_yticks([row + 0.4 - height / 2 for row in range(len(frame))])
    ax.set_yticklabels([f"{r.rule}\n({r.repeated} repeated, {r.orphans} orphans)" for r in frame.itertuples()])
    ax.invert_yaxis()
    ax.set_xscale("symlog")
    ax.set_xlabel("causes (log scale)")
    ax.set_title("Flows: causes -> effects in time -> late -> missing")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return finish(fig)
