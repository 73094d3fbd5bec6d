-- offset_gap: offsets of a partition that no record in the dataset holds, classified.
-- Kafka legitimately leaves offsets undelivered, so a gap is data loss only when nothing explains it:
--   compaction           the topic's cleanup.policy (recorded at dump time) contains `compact`
--   transaction_marker   the topic shows transaction markers (below) and the gap is one offset, or the
--                        dump read read_uncommitted (then only markers are hidden, several in a row
--                        when transactions of several producers end together)
--   transaction_aborted  the topic shows transaction markers, the dump read read_committed (or the
--                        isolation is unknown) and the gap is longer: an aborted batch plus its marker
--   retention            offsets between two dumps that lay below the later dump's low watermark
--   not_dumped           offsets between two dumps that no dump asked for
--   unexplained          none of the above: possible data loss (warning)
-- A topic "shows transaction markers" when the config says `transactional = true`, or (unless it says
-- false) some partition's range ends in a skipped interval (nothing but a marker or an aborted batch
-- follows the last delivered record of a quiet partition), or the topic has >= 2 single-offset gaps.
-- Cannot know: consumers never see control records or producer ids, so a non-transactional topic
-- that lost its last record, or lost two single records, looks transactional; say
-- `transactional = false` for that topic in the config to judge it strictly.

-- The skipped intervals of every dump of a partition, merged where they overlap or touch: a gap that
-- several dumps saw is one gap. Its isolation is read_uncommitted if any of those dumps read so (then
-- only markers were hidden); ends_range: some dump's range ended in it.
CREATE OR REPLACE VIEW skipped_intervals AS
WITH skipped AS (
    SELECT cluster_id, topic, partition, isolation, range_end, s[1] AS gap_start, s[2] AS gap_end
    FROM (SELECT cluster_id, topic, partition, isolation, "end" AS range_end, unnest(skipped) AS s FROM manifests)
),
numbered AS (
    SELECT *, sum(starts_gap::INTEGER) OVER (PARTITION BY cluster_id, topic, partition ORDER BY gap_start, gap_end
                                             ROWS UNBOUNDED PRECEDING) AS gap_no
    FROM (SELECT *, coalesce(gap_start > max(gap_end) OVER (PARTITION BY cluster_id, topic, partition
                                                            ORDER BY gap_start, gap_end
                                                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                             true) AS starts_gap
          FROM skipped)
)
SELECT cluster_id, topic, partition, min(gap_start) AS gap_start, max(gap_end) AS gap_end,
       CASE WHEN bool_or(isolation = 'read_uncommitted') THEN 'read_uncommitted' ELSE any_value(isolation) END AS isolation,
       bool_or(gap_end = range_end) AS ends_range
FROM numbered
GROUP BY cluster_id, topic, partition, gap_no;

CREATE OR REPLACE VIEW transaction_evidence AS
SELECT t.cluster_id, t.topic,
       coalesce(t.transactional,
                bool_or(s.ends_range) OR count(*) FILTER (WHERE s.gap_end - s.gap_start = 1) >= 2,
                false) AS shows_markers
FROM topics t LEFT JOIN skipped_intervals s USING (cluster_id, topic)
GROUP BY t.cluster_id, t.topic, t.transactional;

CREATE OR REPLACE VIEW uncovered_intervals AS   -- holes between the ranges of several dumps
SELECT cluster_id, topic, partition, covered_to AS gap_start, next_start AS gap_end, next_low_watermark
FROM (
    SELECT cluster_id, topic, partition,
           max("end") OVER by_start AS covered_to,
           lead(start) OVER by_start AS next_start,
           lead(low_watermark) OVER by_start AS next_low_watermark
    FROM manifests
    WINDOW by_start AS (PARTITION BY cluster_id, topic, partition ORDER BY start, "end")
)
WHERE next_start > covered_to;

CREATE OR REPLACE VIEW offset_gaps AS
SELECT s.cluster_id, s.topic, s.partition, s.gap_start, s.gap_end, s.gap_end - s.gap_start AS missing,
       CASE WHEN contains(coalesce(t.cleanup_policy, ''), 'compact') THEN 'compaction'
            WHEN e.shows_markers AND (s.isolation = 'read_uncommitted' OR s.gap_end - s.gap_start = 1) THEN 'transaction_marker'
            WHEN e.shows_markers THEN 'transaction_aborted'
            ELSE 'unexplained' END AS classification
FROM skipped_intervals s
LEFT JOIN topics t USING (cluster_id, topic)   -- a topic the manifests do not describe: no config known
LEFT JOIN transaction_evidence e USING (cluster_id, topic)
UNION ALL
SELECT cluster_id, topic, partition, gap_start, gap_end, gap_end - gap_start,
       CASE WHEN gap_end <= next_low_watermark THEN 'retention' ELSE 'not_dumped' END
FROM uncovered_intervals;

CREATE OR REPLACE VIEW offset_gap_findings AS
WITH reported AS (
    SELECT * FROM offset_gaps WHERE classification IN ('unexplained', 'retention', 'not_dumped')
),
neighbours AS (   -- broker times of the records just before and just after each reported gap
    SELECT g.cluster_id, g.topic, g.partition, g.gap_start, g.gap_end,
           max(r.timestamp) FILTER (WHERE r."offset" < g.gap_start) AS before_ts,
           min(r.timestamp) FILTER (WHERE r."offset" >= g.gap_end) AS after_ts,
           arg_max(r.key, r."offset") FILTER (WHERE r."offset" < g.gap_start) AS key_before
    FROM reported g
    JOIN records r ON r.cluster_id = g.cluster_id AND r.topic = g.topic AND r.partition = g.partition
                  AND (r."offset" = g.gap_start - 1 OR r."offset" = g.gap_end)
    GROUP BY g.cluster_id, g.topic, g.partition, g.gap_start, g.gap_end
)
SELECT 'offset_gap' AS "check",
       CASE classification WHEN 'unexplained' THEN 'warning' ELSE 'info' END AS severity,
       g.topic, g.partition, n.key_before AS key, [g.gap_start, g.gap_end - 1] AS offsets, []::VARCHAR[] AS event_ids,
       n.before_ts AS first_ts, n.after_ts AS last_ts,
       format('{}: offsets {}..{} ({} offsets) of {}/{} {}', classification, g.gap_start, g.gap_end - 1, g.missing,
              g.topic, g.partition,
              CASE classification
                  WHEN 'unexplained' THEN 'were not delivered and nothing explains it (not compacted, no transaction markers seen)'
                  WHEN 'retention' THEN 'were deleted by retention before the later dump'
                  ELSE 'lie between two dumps and were not dumped' END) AS detail
FROM reported g
LEFT JOIN neighbours n USING (cluster_id, topic, partition, gap_start, gap_end);
