-- flow: every cause followed within `within` by an effect with the same correlation value
-- (docs/rules.md, "Flows"). Input, built from the config by evkit/analysis/rules.py: flow_rules
-- (rule, from_topic, from_cluster, to_topic, to_cluster, within_ms, within_text, expect) and
-- flow_events (rule, cluster_id, topic, partition, "offset", t = event time else broker time in epoch
-- ms, event_id, is_cause, is_effect, v_cause, v_effect: each event that is a cause or an effect, and
-- bucket = the `within`-long slice of time t is in).
-- Cost: two hash aggregates over the causes and effects find the values that may hold a finding
-- (flow_suspects); only those are sorted, with running counts and minima; no join of causes with
-- effects but for the few late and repeated ones.
-- missing (error) / pending (info): no effect at or after the cause, the dump covers [t, t + within]
-- of the `to` topic or not; late (warning): effects, none within; repeated (warning): expect = 'one'
-- and two or more effects; orphan (warning): an effect with no cause at or before it, where the dump
-- covers [t - within, t] of the `from` topic.

-- What each dumped range covers, in broker time: from offset 0 (or its first record) to end_fixed_at
-- when it reached the log end (else its last record); ±2^62 stand for the beginning and end of time.
CREATE OR REPLACE VIEW flow_ranges AS
WITH ranges AS (
    SELECT cluster_id, dataset, run_id, topic, partition, start, "end", epoch_ms(end_fixed_at) AS fixed,
           start = 0 AS from_start, end_fixed_at IS NOT NULL AND (high_watermark IS NULL OR "end" >= high_watermark) AS to_end
    FROM manifests
    WHERE topic IN (SELECT from_topic FROM flow_rules UNION SELECT to_topic FROM flow_rules)
),
record_times AS (   -- the first and last broker time of the ranges that need them (not from offset 0, or not to the end)
    SELECT r.cluster_id, r.dataset, r.run_id, r.topic, r.partition, r.start,
           min(epoch_ms(e.timestamp)) AS first_ms, max(epoch_ms(e.timestamp)) AS last_ms
    FROM ranges r
    JOIN events e ON e.cluster_id = r.cluster_id AND e.topic = r.topic AND e.partition = r.partition
                 AND e."offset" >= r.start AND e."offset" < r."end"
    WHERE NOT (r.from_start AND r.to_end)
    GROUP BY ALL
)
SELECT cluster_id, topic, partition, cover_from, cover_until
FROM (SELECT r.cluster_id, r.topic, r.partition,
             CASE WHEN r.from_start THEN -(1::BIGINT << 62) ELSE coalesce(t.first_ms, 1::BIGINT << 62) END AS cover_from,
             CASE WHEN r.to_end THEN r.fixed ELSE coalesce(t.last_ms, -(1::BIGINT << 62)) END AS cover_until
      FROM ranges r LEFT JOIN record_times t USING (cluster_id, dataset, run_id, topic, partition, start))
WHERE cover_from <= cover_until;

CREATE OR REPLACE VIEW flow_islands AS   -- a partition's covered intervals, merged where they overlap or touch
SELECT cluster_id, topic, partition, min(cover_from) AS cover_from, max(cover_until) AS cover_until
FROM (SELECT *, sum(starts) OVER (PARTITION BY cluster_id, topic, partition ORDER BY cover_from, cover_until
                                  ROWS UNBOUNDED PRECEDING) AS island
      FROM (SELECT *, CASE WHEN cover_from <= max(cover_until) OVER (
                               PARTITION BY cluster_id, topic, partition ORDER BY cover_from, cover_until
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) + 1 THEN 0 ELSE 1 END AS starts
            FROM flow_ranges))
GROUP BY cluster_id, topic, partition, island;

-- What a rule's side covers: the times every partition of its topic (in its cluster, else in every
-- cluster that recorded the topic) covers, by a sweep over the islands' ends.
CREATE OR REPLACE VIEW flow_coverage AS
WITH sides AS (
    SELECT rule, 'from' AS side, from_topic AS topic, from_cluster AS cluster FROM flow_rules
    UNION ALL SELECT rule, 'to', to_topic, to_cluster FROM flow_rules
),
parts AS (
    SELECT s.rule, s.side, t.cluster_id, t.topic, max(t.partition_count) AS n
    FROM sides s JOIN topics t ON t.topic = s.topic AND (s.cluster IS NULL OR t.cluster_id = s.cluster)
    GROUP BY s.rule, s.side, t.cluster_id, t.topic
),
total AS (SELECT rule, side, sum(n) AS partitions FROM parts GROUP BY rule, side),
islands AS MATERIALIZED (SELECT * FROM flow_islands),   -- they read the records once
bounds AS (
    SELECT p.rule, p.side, i.cover_from AS moment, 1 AS delta
    FROM parts p JOIN islands i ON i.cluster_id = p.cluster_id AND i.topic = p.topic AND i.partition < p.n
    UNION ALL
    SELECT p.rule, p.side, i.cover_until + 1, -1
    FROM parts p JOIN islands i ON i.cluster_id = p.cluster_id AND i.topic = p.topic AND i.partition < p.n
),
steps AS (SELECT rule, side, moment, sum(delta) AS delta FROM bounds GROUP BY rule, side, moment HAVING sum(delta) <> 0),
levels AS (
    SELECT rule, side, moment, sum(delta) OVER (PARTITION BY rule, side ORDER BY moment) AS level,
           lead(moment) OVER (PARTITION BY rule, side ORDER BY moment) AS next_at
    FROM steps
)
SELECT l.rule, l.side, l.moment AS cover_from, l.next_at - 1 AS cover_until
FROM levels l JOIN total t ON t.rule = l.rule AND t.side = l.side
WHERE l.level = t.partitions AND l.next_at IS NOT NULL;

-- One row per (rule, value) role: a cause, an effect, or both (`own`: the event is never its own effect).
CREATE OR REPLACE VIEW flow_roles AS
SELECT rule, cluster_id, topic, partition, "offset", t, event_id, v_cause AS v, true AS is_cause,
       is_effect AND v_effect = v_cause AS is_effect, is_effect AND v_effect = v_cause AS own, bucket
FROM flow_events WHERE is_cause
UNION ALL
SELECT rule, cluster_id, topic, partition, "offset", t, event_id, v_effect, false, true, false, bucket
FROM flow_events WHERE is_effect AND NOT (is_cause AND v_cause = v_effect);

-- The values that may hold a finding (a superset, found without sorting: two hash aggregates): only
-- their roles are ordered below, the rest have no finding. Per value: an effect before the first cause
-- (orphan), the second-to-last effect at or after the first cause (repeated, for expect = 'one'), an
-- event that is both (own). Per bucket (buckets are `within` long): a cause's first effect at or after
-- it is in its bucket, so in time, when the bucket's last effect is at or after it; else it is the
-- next bucket's first effect, if any (a later bucket's is too late). So the causes of a bucket that
-- may be late, missing or pending lie after its last effect and more than `within` before the next
-- bucket's first effect; a bucket is suspect unless that interval is empty or holds none of its
-- causes by their earliest and latest time.
CREATE OR REPLACE VIEW flow_suspects AS
WITH per_value AS (
    SELECT p.rule, p.v
    FROM (SELECT rule, v, min(t) FILTER (WHERE is_cause) AS first_cause, min(t) FILTER (WHERE is_effect) AS first_effect,
                 max(t, 2) FILTER (WHERE is_effect) AS last_effects, bool_or(own) AS own
          FROM flow_roles GROUP BY rule, v) p
    JOIN flow_rules r USING (rule)
    WHERE p.own OR p.first_effect < coalesce(p.first_cause, p.first_effect + 1)
       OR (r.expect = 'one' AND p.last_effects[2] >= p.first_cause)
),
per_bucket AS (
    SELECT b.rule, b.v
    FROM (SELECT rule, v, bucket, min(t) FILTER (WHERE is_cause) AS first_cause, max(t) FILTER (WHERE is_cause) AS last_cause,
                 max(t) FILTER (WHERE is_effect) AS last_effect, min(t) FILTER (WHERE NOT is_cause AND NOT is_effect) AS next_effect
          FROM (SELECT rule, v, bucket, t, is_cause, is_effect FROM flow_roles
                UNION ALL
                SELECT rule, v, bucket - 1, t, false, false FROM flow_roles WHERE is_effect)   -- the next bucket's effects
          GROUP BY rule, v, bucket) b
    JOIN flow_rules r USING (rule)
    WHERE b.last_cause > coalesce(b.last_effect, b.first_cause - 1)                  -- causes after the last effect
      AND b.first_cause < coalesce(b.next_effect - r.within_ms, b.last_cause + 1)     -- and not in time with the next
      AND coalesce(b.last_effect + 1 < b.next_effect - r.within_ms, true)            -- and the interval between is not empty
)
SELECT rule, v FROM per_value UNION SELECT rule, v FROM per_bucket;

-- Per role, in (time, cluster, partition, offset, topic) order within its rule and value: the effects
-- at or after it (not itself) with the first one's position and time, and the causes at or before it.
CREATE OR REPLACE VIEW flow_matches AS
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY rule, v ORDER BY t, cluster_id, partition, "offset", topic) AS pos
    FROM flow_roles SEMI JOIN flow_suspects USING (rule, v)
),
scanned AS (
    SELECT *,
           count(*) FILTER (WHERE is_effect) OVER from_here - own::INTEGER AS effects,
           min(pos) FILTER (WHERE is_effect) OVER from_here AS first_pos_here,
           min(t) FILTER (WHERE is_effect) OVER from_here AS first_t_here,
           min(pos) FILTER (WHERE is_effect) OVER after_me AS next_pos,
           min(t) FILTER (WHERE is_effect) OVER after_me AS next_t,
           count(*) FILTER (WHERE is_cause) OVER to_here - own::INTEGER AS causes_before
    FROM ranked
    WINDOW from_here AS (PARTITION BY rule, v ORDER BY t RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING),
           to_here AS (PARTITION BY rule, v ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
           after_me AS (PARTITION BY rule, v ORDER BY t, cluster_id, partition, "offset", topic
                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
)
SELECT s.rule, s.cluster_id, s.topic, s.partition, s."offset", s.t, s.v, s.event_id, s.pos, s.is_cause, s.is_effect,
       s.own, s.effects, s.causes_before, r.within_ms, r.expect, r.from_topic, r.to_topic,
       CASE WHEN s.own AND s.first_pos_here = s.pos THEN s.next_pos ELSE s.first_pos_here END AS first_pos,
       CASE WHEN s.own AND s.first_pos_here = s.pos THEN s.next_t ELSE s.first_t_here END AS first_t
FROM scanned s JOIN flow_rules r USING (rule);

CREATE OR REPLACE VIEW flows AS          -- one row per finding: kind, the cause (or orphan) and its effects
WITH matches AS MATERIALIZED (SELECT * FROM flow_matches),
coverage AS MATERIALIZED (SELECT * FROM flow_coverage),
causes AS (SELECT * FROM matches WHERE is_cause),
effect_rows AS (SELECT rule, v, pos, t, cluster_id, topic, partition, "offset", event_id FROM matches WHERE is_effect),
flagged AS (
    SELECT rule, CASE WHEN EXISTS (SELECT 1 FROM coverage c WHERE c.rule = m.rule AND c.side = 'to'
                                     AND c.cover_from <= m.t AND m.t + m.within_ms <= c.cover_until)
                      THEN 'missing' ELSE 'pending' END AS kind, v, pos, t, first_pos
    FROM causes m WHERE effects = 0
    UNION ALL
    SELECT rule, 'late', v, pos, t, first_pos FROM causes WHERE effects > 0 AND first_t > t + within_ms
    UNION ALL
    SELECT rule, 'repeated', v, pos, t, first_pos FROM causes WHERE expect = 'one' AND effects >= 2
    UNION ALL
    SELECT rule, 'orphan', v, pos, t, NULL FROM matches m
    WHERE is_effect AND causes_before = 0
      AND EXISTS (SELECT 1 FROM coverage c WHERE c.rule = m.rule AND c.side = 'from'
                    AND c.cover_from <= m.t - m.within_ms AND m.t <= c.cover_until)
),
listed AS (                              -- the effects each finding names: late its first, repeated all of them
    SELECT f.rule, f.kind, f.v, f.pos,
           list({'t': e.t, 'c': e.cluster_id, 'topic': e.topic, 'p': e.partition, 'o': e."offset", 'id': e.event_id}
                ORDER BY e.pos) FILTER (WHERE e.pos IS NOT NULL) AS effects
    FROM flagged f
    LEFT JOIN effect_rows e ON e.rule = f.rule AND e.v = f.v AND f.kind IN ('late', 'repeated') AND e.pos <> f.pos
         AND (e.pos = f.first_pos OR (f.kind = 'repeated' AND e.t >= f.t))
    GROUP BY f.rule, f.kind, f.v, f.pos
)
SELECT l.rule, l.kind, m.cluster_id, m.topic, m.partition, m."offset", m.t, m.v, m.event_id, m.within_ms,
       CASE l.kind WHEN 'orphan' THEN m.from_topic ELSE m.to_topic END AS other_topic,
       coalesce(l.effects, []) AS effects
FROM listed l JOIN matches m ON m.rule = l.rule AND m.v = l.v AND m.pos = l.pos;

CREATE OR REPLACE VIEW flow_findings AS
SELECT 'flow' AS "check",
       CASE kind WHEN 'missing' THEN 'error' WHEN 'pending' THEN 'info' ELSE 'warning' END AS severity,
       topic, partition, encode(v) AS key, ["offset"] || list_transform(effects, lambda e: e.o) AS offsets,
       list_prepend(event_id, list_transform(effects, lambda e: e.id)) AS event_ids,
       make_timestamptz(t * 1000) AS first_ts,
       make_timestamptz(CASE WHEN kind IN ('missing', 'pending') THEN t + within_ms WHEN kind = 'orphan' THEN t
                             ELSE effects[-1].t END * 1000) AS last_ts,
       format('flow {}: {}: {} {} at {}/{}:{} ({}){}', rule, kind,
              CASE kind WHEN 'orphan' THEN 'effect' ELSE 'cause' END, v, topic, partition, "offset",
              strftime(make_timestamptz(t * 1000), '%Y-%m-%dT%H:%M:%S.%gZ'),
              CASE kind
                  WHEN 'missing' THEN ', no effect in ' || other_topic || ' (the dump covers it to the window''s end)'
                  WHEN 'pending' THEN ', no effect in ' || other_topic || ' yet (its window runs past what the dump covers)'
                  WHEN 'orphan' THEN ', no cause in ' || other_topic || ' at or before it'
                  WHEN 'late' THEN format(', first effect {}/{}:{} {:.3f} s after, later than {:.3f} s',
                                          effects[1].topic, effects[1].p, effects[1].o,
                                          (effects[1].t - t) / 1000, within_ms / 1000)
                  ELSE format(', {} effects: {}', len(effects),
                              array_to_string(list_transform(effects, lambda e: e.topic || '/' || e.p || ':' || e.o), ', '))
              END) AS detail,
       to_json({'rule': rule, 'kind': kind,
                'from': CASE WHEN kind <> 'orphan' THEN [to_json(topic), to_json(partition), to_json("offset")] END,
                'effects': CASE WHEN kind = 'orphan' THEN [[to_json(topic), to_json(partition), to_json("offset")]]
                                ELSE list_transform(effects, lambda e: [to_json(e.topic), to_json(e.p), to_json(e.o)]) END
               }) AS facts
FROM flows;

CREATE OR REPLACE VIEW flow_funnel AS    -- per flow: causes -> effects in time -> late -> missing (pending)
SELECT r.rule, coalesce(any_value(c.causes), 0) AS causes,
       coalesce(any_value(c.causes), 0) - count(f.rule) FILTER (WHERE f.kind IN ('late', 'missing', 'pending')) AS in_time,
       count(f.rule) FILTER (WHERE f.kind = 'late') AS late, count(f.rule) FILTER (WHERE f.kind = 'missing') AS missing,
       count(f.rule) FILTER (WHERE f.kind = 'pending') AS pending, count(f.rule) FILTER (WHERE f.kind = 'repeated') AS repeated,
       count(f.rule) FILTER (WHERE f.kind = 'orphan') AS orphans
FROM flow_rules r
LEFT JOIN (SELECT rule, count(*) AS causes FROM flow_events WHERE is_cause GROUP BY rule) c ON c.rule = r.rule
LEFT JOIN flows f ON f.rule = r.rule
GROUP BY r.rule;
