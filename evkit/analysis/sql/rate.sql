-- rate: per [rates.NAME] rule (docs/rules.md) and group, the exact sliding windows [t, t + window)
-- that start at an event: the busiest window of any placement starts at an event, so a burst that
-- straddles two clock buckets is counted whole. A window exceeds when it holds more than the rule's
-- max events; one finding per group with its worst window (the earliest on a tie), the windows
-- exceeded and the bursts (exceeding windows chained where each starts before the previous ends).
-- Input, built from the config by evkit/analysis/rules.py: rate_rules (rule, topic, per, max_events,
-- window_ms, window_text, severity) and rate_input (rule, cluster_id, topic, partition, "offset",
-- t = event time else broker time in epoch ms, event_id, grp = the group's identity, group_key = the
-- finding's key, group_label, bucket = the window-long slice of time t is in).
-- Cost: one hash aggregate over the events, then a sort and a RANGE-framed count of the few events
-- where a window can exceed (below); never a self-join, never quadratic.
-- Cannot know: producer clocks (event times), events outside the dump, whether a burst was one actor.

-- Where a window can exceed, exactly: a window that starts in bucket b lies within buckets b and
-- b + 1, so it exceeds only if count(b) + count(b + 1) > max, and then one of the two holds more than
-- max / 2 events (a heavy bucket h). The windows that may exceed start in h - 1 or h and hold events
-- of h - 1 .. h + 1: those events are counted exactly, no others. The counts are by one integer per
-- rule, group and bucket, slot = hash(rule, group) / 4 + bucket + 1, so that bucket b +- 1 is slot
-- +- 1; two groups in one slot only add candidates, and so does taking the smallest max of all rules.
CREATE OR REPLACE VIEW rate_candidates AS
WITH slotted AS (SELECT *, (hash(rule, cluster_id, grp) >> 2) + bucket::UBIGINT + 1 AS slot FROM rate_input),
heavy AS (
    SELECT slot FROM slotted GROUP BY slot HAVING 2 * count(*) > (SELECT min(max_events) FROM rate_rules)
),
slices AS (              -- the slots counted; starts: the windows starting there may exceed
    SELECT slot + d AS slot, bool_or(d <= 0) AS starts
    FROM heavy CROSS JOIN (VALUES (-1), (0), (1)) s(d)
    GROUP BY ALL
)
SELECT i.* EXCLUDE (slot), s.starts FROM slotted i JOIN slices s USING (slot);

CREATE OR REPLACE VIEW rate_candidate_windows AS   -- those events' windows: count, first and last event by rank
SELECT *, rank_t AS first_rn, rank_t + events - 1 AS last_rn
FROM (
    SELECT *, count(*) OVER (PARTITION BY rule, cluster_id, grp ORDER BY t
                             RANGE BETWEEN CURRENT ROW AND window_ms - 1 FOLLOWING) AS events,
           rank() OVER (PARTITION BY rule, cluster_id, grp ORDER BY t) AS rank_t
    FROM (SELECT c.*, r.max_events, r.window_ms, r.window_text, r.severity, r.per,
                 row_number() OVER (PARTITION BY c.rule, c.cluster_id, c.grp ORDER BY c.t, c.partition, c."offset") AS rn
          FROM rate_candidates c JOIN rate_rules r USING (rule))
);

CREATE OR REPLACE VIEW rates AS          -- one row per group with an exceeding window: its worst window, its burst
WITH windows AS MATERIALIZED (SELECT * FROM rate_candidate_windows),
exceeded AS (
    SELECT *, sum(starts_burst) OVER (PARTITION BY rule, cluster_id, grp ORDER BY t, partition, "offset") AS burst
    FROM (SELECT *, CASE WHEN t < lag(t) OVER (PARTITION BY rule, cluster_id, grp ORDER BY t, partition, "offset") + window_ms
                         THEN 0 ELSE 1 END AS starts_burst
          FROM windows WHERE starts AND events > max_events)
),
bursts AS (
    SELECT rule, cluster_id, grp, burst, min(t) AS first_t, min(first_rn) AS first_rn, max(last_rn) AS last_rn
    FROM exceeded GROUP BY ALL
),
worst AS (
    SELECT rule, cluster_id, topic, per, grp, group_label, group_key, max_events, window_ms, window_text, severity,
           arg_min({'t': t, 'events': events, 'first_rn': first_rn, 'last_rn': last_rn, 'burst': burst},
                   {'events': -events, 't': t, 'p': partition, 'o': "offset"}) AS worst,
           count(*) AS windows_exceeded, max(burst) AS bursts
    FROM exceeded
    GROUP BY rule, cluster_id, topic, per, grp, group_label, group_key, max_events, window_ms, window_text, severity
)
SELECT w.rule, w.cluster_id, w.topic, w.per, w.grp, w.group_label, w.group_key, w.max_events, w.window_ms, w.window_text,
       w.severity, w.worst.events AS events, w.worst.t AS first_t, max(e.t) AS last_t, w.windows_exceeded, w.bursts,
       arg_min({'p': e.partition, 'o': e."offset", 'id': e.event_id}, e.rn) AS first_event,
       arg_max({'p': e.partition, 'o': e."offset", 'id': e.event_id}, e.rn) AS last_event,
       CASE WHEN min(e.partition) = max(e.partition) THEN min(e.partition) END AS partition,
       {'first_t': b.first_t, 'last_t': l.t, 'events': b.last_rn - b.first_rn + 1} AS burst
FROM worst w
JOIN windows e ON e.rule = w.rule AND e.cluster_id = w.cluster_id AND e.grp = w.grp
              AND e.rn BETWEEN w.worst.first_rn AND w.worst.last_rn
JOIN bursts b ON b.rule = w.rule AND b.cluster_id = w.cluster_id AND b.grp = w.grp AND b.burst = w.worst.burst
JOIN windows l ON l.rule = w.rule AND l.cluster_id = w.cluster_id AND l.grp = w.grp AND l.rn = b.last_rn
GROUP BY ALL;

CREATE OR REPLACE VIEW rate_windows AS   -- every event's window in the groups that exceeded (what plots.rate_windows draws)
SELECT i.rule, i.cluster_id, i.topic, i.grp, i.group_label, i.partition, i."offset", i.t, r.max_events, r.window_text,
       count(*) OVER (PARTITION BY i.rule, i.cluster_id, i.grp ORDER BY i.t
                      RANGE BETWEEN CURRENT ROW AND r.window_ms - 1 FOLLOWING) AS events
FROM rate_input i JOIN rate_rules r USING (rule)
SEMI JOIN rates x ON x.rule = i.rule AND x.cluster_id = i.cluster_id AND x.grp = i.grp;

CREATE OR REPLACE VIEW rate_findings AS
SELECT 'rate' AS "check", severity, topic, partition, group_key AS key,
       [first_event.o, last_event.o] AS offsets, [first_event.id, last_event.id] AS event_ids,
       make_timestamptz(first_t * 1000) AS first_ts, make_timestamptz(last_t * 1000) AS last_ts,
       format('rate {}: {} of {}: {} events in {} from {} (the last at {}), max {}; {} windows exceeded, in {} burst{}',
              rule, CASE per WHEN 'topic' THEN 'the topic' WHEN 'partition' THEN 'partition ' || group_label
                             ELSE per || ' ' || group_label END,
              topic, events, window_text, strftime(make_timestamptz(first_t * 1000), '%Y-%m-%dT%H:%M:%S.%gZ'),
              strftime(make_timestamptz(last_t * 1000), '%H:%M:%S.%gZ'), max_events, windows_exceeded, bursts,
              CASE WHEN bursts = 1 THEN '' ELSE 's' END) AS detail,
       to_json({'rule': rule, 'per': per, 'worst': [first_t, last_t, events], 'windows': windows_exceeded,
                'limit': max_events, 'window_ms': window_ms,
                'burst': {'first_ts': strftime(make_timestamptz(burst.first_t * 1000), '%Y-%m-%dT%H:%M:%S.%gZ'),
                          'last_ts': strftime(make_timestamptz(burst.last_t * 1000), '%Y-%m-%dT%H:%M:%S.%gZ'),
                          'events': burst.events}}) AS facts
FROM rates;
