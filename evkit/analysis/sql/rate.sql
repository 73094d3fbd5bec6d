-- rate: per [rates.NAME] rule (docs/rules.md) and group, the exact sliding windows [t, t + window)
-- that start at an event: the busiest window of any placement starts at an event, so a burst that
-- straddles two clock buckets is counted whole. A window exceeds when it holds more than the rule's
-- max events; one finding per group with its worst window (the earliest on a tie), the windows
-- exceeded and the bursts (exceeding windows chained where each starts before the previous ends).
-- Input, built from the config by evkit/analysis/rules.py: rate_rules (rule, topic, per, max_events,
-- window_ms, window_text, severity) and rate_input (rule, cluster_id, topic, partition, "offset",
-- t = event time else broker time in epoch ms, event_id, grp = the group's identity, group_key = the
-- finding's key, group_label). Cost: one sort per group and a RANGE-framed count, O(n log n).
-- Cannot know: producer clocks (event times), events outside the dump, whether a burst was one actor.

CREATE OR REPLACE VIEW rate_windows AS   -- every event's window: its count, and its first and last event by rank
SELECT *, rank_t AS first_rn, rank_t + events - 1 AS last_rn
FROM (
    SELECT *, count(*) OVER (PARTITION BY rule, cluster_id, grp ORDER BY t
                             RANGE BETWEEN CURRENT ROW AND window_ms - 1 FOLLOWING) AS events,
           rank() OVER (PARTITION BY rule, cluster_id, grp ORDER BY t) AS rank_t
    FROM (SELECT i.*, r.max_events, r.window_ms, r.window_text, r.severity, r.per,
                 row_number() OVER (PARTITION BY i.rule, i.cluster_id, i.grp ORDER BY i.t, i.partition, i."offset") AS rn
          FROM rate_input i JOIN rate_rules r USING (rule))
);

CREATE OR REPLACE VIEW rates AS          -- one row per group with an exceeding window: its worst window
WITH windows AS MATERIALIZED (SELECT * FROM rate_windows),
exceeded AS (
    SELECT *, lag(t) OVER (PARTITION BY rule, cluster_id, grp ORDER BY t, partition, "offset") AS previous_t
    FROM windows WHERE events > max_events
),
worst AS (
    SELECT rule, cluster_id, topic, per, grp, group_label, group_key, max_events, window_ms, window_text, severity,
           arg_min({'t': t, 'events': events, 'first_rn': first_rn, 'last_rn': last_rn},
                   {'events': -events, 't': t, 'p': partition, 'o': "offset"}) AS worst,
           count(*) AS windows_exceeded,
           count(*) FILTER (WHERE previous_t IS NULL OR t >= previous_t + window_ms) AS bursts
    FROM exceeded
    GROUP BY rule, cluster_id, topic, per, grp, group_label, group_key, max_events, window_ms, window_text, severity
)
SELECT w.rule, w.cluster_id, w.topic, w.per, w.grp, w.group_label, w.group_key, w.max_events, w.window_ms, w.window_text,
       w.severity, w.worst.events AS events, w.worst.t AS first_t, max(e.t) AS last_t, w.windows_exceeded, w.bursts,
       arg_min({'p': e.partition, 'o': e."offset", 'id': e.event_id}, e.rn) AS first_event,
       arg_max({'p': e.partition, 'o': e."offset", 'id': e.event_id}, e.rn) AS last_event,
       CASE WHEN min(e.partition) = max(e.partition) THEN min(e.partition) END AS partition
FROM worst w
JOIN windows e ON e.rule = w.rule AND e.cluster_id = w.cluster_id AND e.grp = w.grp
              AND e.rn BETWEEN w.worst.first_rn AND w.worst.last_rn
GROUP BY ALL;

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
                'limit': max_events, 'window_ms': window_ms}) AS facts
FROM rates;
