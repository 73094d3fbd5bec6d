-- field_coverage: how many records carry each event field, per topic, and why the others do not.
-- Input: event_fields (events plus raw_<field> text as found and value_undecodable), field_sources.
-- A field is `missing` when its source yields nothing (no such path, header or key); `undecodable`
-- counts those missing because the value (for the source `key`: the key) does not decode in its
-- topic's format at all (for json: not UTF-8 JSON; for avro, protobuf, json_schema: not framed by a
-- stored schema of that type, or a corrupt payload; see evkit/analysis/decoders/); `unparseable`
-- counts values found but not convertible (event_time not epoch-ms/ISO-8601, sequence not an integer).
-- Findings (info): one per topic and analyst-chosen field with missing or unparseable values; the
-- decode step's reasons (decode_failures) are named in the detail.

CREATE OR REPLACE VIEW field_counts AS
SELECT topic,
       count(*) AS records,
       count(*) FILTER (WHERE value_undecodable) AS undecodable_values,
       count(*) FILTER (WHERE key_undecodable) AS undecodable_keys,
       count(raw_event_id) AS raw_event_id,     count(event_id) AS ok_event_id,
       count(raw_entity) AS raw_entity,         count(entity) AS ok_entity,
       count(raw_event_time) AS raw_event_time, count(event_time) AS ok_event_time,
       count(raw_sequence) AS raw_sequence,     count(sequence) AS ok_sequence,
       count(raw_event_type) AS raw_event_type, count(event_type) AS ok_event_type,
       count(raw_trace_id) AS raw_trace_id,     count(trace_id) AS ok_trace_id
FROM event_fields
GROUP BY topic;

CREATE OR REPLACE VIEW field_coverage AS
WITH per_field AS (
    SELECT s.topic, s.field, s.source, s.explicit, c.records, c.undecodable_values, c.undecodable_keys,
           CASE s.field WHEN 'event_id' THEN raw_event_id WHEN 'entity' THEN raw_entity
                        WHEN 'event_time' THEN raw_event_time WHEN 'sequence' THEN raw_sequence
                        WHEN 'event_type' THEN raw_event_type ELSE raw_trace_id END AS found,
           CASE s.field WHEN 'event_id' THEN ok_event_id WHEN 'entity' THEN ok_entity
                        WHEN 'event_time' THEN ok_event_time WHEN 'sequence' THEN ok_sequence
                        WHEN 'event_type' THEN ok_event_type ELSE ok_trace_id END AS present
    FROM field_sources s JOIN field_counts c USING (topic)
)
SELECT topic, field, source, explicit, records, present,
       records - found AS missing,
       CASE WHEN starts_with(source, '$') THEN undecodable_values WHEN source = 'key' THEN undecodable_keys
            ELSE 0 END AS undecodable,
       found - present AS unparseable
FROM per_field;

CREATE OR REPLACE VIEW field_coverage_findings AS
SELECT 'field_coverage' AS "check", 'info' AS severity, topic, NULL::INTEGER AS partition, NULL::BLOB AS key,
       []::BIGINT[] AS offsets, []::VARCHAR[] AS event_ids,
       NULL::TIMESTAMPTZ AS first_ts, NULL::TIMESTAMPTZ AS last_ts,
       format('{} of {} records of {} have no {} ({}): {} undecodable{}, {} without it, {} unparseable',
              missing + unparseable, records, topic, field, source, undecodable,
              CASE WHEN undecodable > 0 AND reasons IS NOT NULL THEN ' (' || reasons || ')' ELSE '' END,
              missing - undecodable, unparseable) AS detail
FROM field_coverage
LEFT JOIN (SELECT topic AS failed_topic, side, string_agg(reason || ' ' || n, ', ' ORDER BY reason) AS reasons
           FROM (SELECT topic, side, split_part(reason, ':', 1) AS reason, count(*) AS n FROM decode_failures GROUP BY ALL)
           GROUP BY ALL) f
       ON f.failed_topic = field_coverage.topic AND f.side = CASE WHEN field_coverage.source = 'key' THEN 'key' ELSE 'value' END
WHERE explicit AND (missing > 0 OR unparseable > 0);
