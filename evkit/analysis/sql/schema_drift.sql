-- schema_drift: the structure of a topic's values changing under its consumers (docs/analysis.md, "schema_drift").
--
-- JSON values. A group is (cluster, topic, producer tag, event_type): the producer is the last header
-- named by partitioner_producer_header (default 'producer'), event_type the mapped field (NULL when
-- unmapped), so the different shapes of different event types are never compared with each other.
-- Each value's structure is json_structure(value) read as paths ($.a.b, arrays as [*]) with a type
-- each: object, array, string, number, boolean, mixed (json_structure's JSON: elements of several
-- kinds, or {}); null is present with no type; an empty array has no [*]. A group's values are
-- ordered by (broker timestamp, partition, offset): positions 1..n. With k = schema_drift_min_expected:
--   added        path P first seen at position f > 1, in c values: c * (f - 1) >= k * (n - f + 1)
--                (at P's rate from f on, at least k of the f - 1 values before f would have carried it)
--   removed      P last seen at position l < n, in c values: c * (n - l) >= k * l
--   type_changed type T (not null) of P first seen at position f after P was seen with other non-null
--                types only: c_T * b >= k * a, b and a = the values carrying P before f and from f on
-- Changes of a group that start at the same value are one change (removed: at the value after l);
-- a path added or removed with its parent is left out. Changes equal in topic, producer and change
-- list (several event types of one deploy) share a change_id. Findings: one per change and
-- partition, offsets = [first offset there that shows it]; warning for a removed path or a type
-- change, info for added paths only.
-- Cannot know: a change within the first values of a group or near its end (too little evidence
-- either side), a rare optional field (it never gathers k), a value that becomes null, the meaning of
-- a field that keeps its name and type; map-like objects (ids as keys) make many paths.
--
-- Registry-framed values (magic byte 0 + 4-byte big-endian id). Per (cluster, topic, producer) the
-- schema ids in use over time (schema_drift_ids); a new id of a subject that already had one in that
-- topic is compared with the subject's previous id by the hook (evkit/schemas/compat.py, table
-- schema_drift_compat). Warning when not BACKWARD compatible, else info.

CREATE OR REPLACE MACRO drift_type(atom) AS CASE atom WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean'
    WHEN 'NULL' THEN 'null' WHEN 'JSON' THEN 'mixed' ELSE 'number' END;

-- One row per record: its group, its position in the group, and its structure's id (JSON) or its
-- schema id (framed). Only the structure id is kept per record; each structure's text once below.
CREATE OR REPLACE TABLE drift_values AS
SELECT grp, cluster_id, topic, producer, event_type, partition, "offset", "timestamp", sid, schema_id,
       row_number() OVER (PARTITION BY grp ORDER BY "timestamp", partition, "offset") AS pos
FROM (
    SELECT hash(cluster_id, topic, producer, event_type, schema_id IS NULL) AS grp, *
    FROM (
        SELECT r.cluster_id, r.topic, e.event_type, r.partition, r."offset", r."timestamp",
               coalesce(try(decode(r.tag)), '0x' || lower(hex(r.tag))) AS producer,
               CASE WHEN octet_length(r.value) >= 5 AND r.value[1:1] = '\x00'::BLOB
                    THEN ('0x' || hex(r.value[2:5]))::BIGINT END AS schema_id,
               hash(try(json_structure(try(decode(r.value))))) AS sid
        FROM (SELECT cluster_id, topic, partition, "offset", "timestamp", value,
                     struct_extract(list_filter(headers, lambda h: h.key = getvariable('partitioner_producer_header'))[-1],
                                    'value') AS tag
              FROM records WHERE value IS NOT NULL) r
        JOIN events e USING (cluster_id, topic, partition, "offset")
    )
    WHERE schema_id IS NOT NULL OR sid <> hash(NULL::VARCHAR)
);

-- JSON ------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW drift_groups AS
SELECT grp, any_value(cluster_id) AS cluster_id, any_value(topic) AS topic, any_value(producer) AS producer,
       any_value(event_type) AS event_type, count(*) AS n
FROM drift_values WHERE schema_id IS NULL GROUP BY grp;

CREATE OR REPLACE TABLE drift_paths AS    -- each distinct structure's paths, read from one of its records
WITH firsts AS (
    SELECT sid, arg_min({'c': cluster_id, 't': topic, 'p': partition, 'o': "offset"}, pos) AS at
    FROM drift_values WHERE schema_id IS NULL GROUP BY sid
), structures AS (
    SELECT f.sid, json_structure(decode(r.value)) AS structure
    FROM firsts f JOIN records r ON r.cluster_id = f.at.c AND r.topic = f.at.t AND r.partition = f.at.p
                                 AND r."offset" = f.at.o
)
SELECT s.sid, replace(t.fullkey, '[0]', '[*]') AS path, replace(t.path, '[0]', '[*]') AS parent,
       CASE t.type WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' ELSE drift_type(t.value ->> '$') END AS type
FROM structures s, json_tree(s.structure) t
WHERE NOT (t.type NOT IN ('OBJECT', 'ARRAY') AND t.value ->> '$' = 'NULL' AND ends_with(t.fullkey, '[0]'));

CREATE OR REPLACE TABLE drift_type_stats AS   -- per group, path and type: values, first and last position
WITH counts AS (
    SELECT grp, sid, count(*) AS n, min(pos) AS first_pos, max(pos) AS last_pos
    FROM drift_values WHERE schema_id IS NULL GROUP BY ALL
)
SELECT c.grp, p.path, any_value(p.parent) AS parent, p.type, sum(c.n) AS c, min(c.first_pos) AS f, max(c.last_pos) AS l
FROM counts c JOIN drift_paths p USING (sid)
GROUP BY c.grp, p.path, p.type;

CREATE OR REPLACE VIEW drift_path_stats AS
SELECT grp, path, any_value(parent) AS parent, sum(c) AS c, min(f) AS f, max(l) AS l,
       arg_min(type, f) AS first_type, arg_max(type, l) AS last_type
FROM drift_type_stats GROUP BY grp, path;

CREATE OR REPLACE TABLE drift_json_changes AS   -- every change, with the position it starts at
WITH candidates AS (   -- a non-null type first seen after its path was, and the other types seen before it
    SELECT t.grp, t.path, t.type, t.c, t.f,
           (SELECT string_agg(o.type, '|' ORDER BY o.type) FROM drift_type_stats o
            WHERE o.grp = t.grp AND o.path = t.path AND o.type NOT IN ('null', t.type) AND o.f < t.f) AS from_types
    FROM drift_type_stats t JOIN drift_path_stats p USING (grp, path)
    WHERE t.type <> 'null' AND t.f > p.f
), baselines AS (   -- b and a: the values carrying the path before the new type and from it on
    SELECT k.grp, k.path, k.type, count(*) FILTER (WHERE v.pos < k.f) AS before, count(*) FILTER (WHERE v.pos >= k.f) AS after
    FROM candidates k JOIN (SELECT DISTINCT sid, path FROM drift_paths) sp ON sp.path = k.path
         JOIN drift_values v ON v.grp = k.grp AND v.sid = sp.sid
    WHERE k.from_types IS NOT NULL
    GROUP BY ALL
), changes AS (
    SELECT p.grp, p.path, p.parent, 'added' AS change, NULL AS "from", p.first_type AS "to", p.f AS start
    FROM drift_path_stats p JOIN drift_groups g USING (grp)
    WHERE p.f > 1 AND p.c * (p.f - 1) >= getvariable('schema_drift_min_expected') * (g.n - p.f + 1)
    UNION ALL
    SELECT p.grp, p.path, p.parent, 'removed', p.last_type, NULL, p.l + 1
    FROM drift_path_stats p JOIN drift_groups g USING (grp)
    WHERE p.l < g.n AND p.c * (g.n - p.l) >= getvariable('schema_drift_min_expected') * p.l
    UNION ALL
    SELECT k.grp, k.path, NULL, 'type_changed', k.from_types, k.type, k.f
    FROM candidates k JOIN baselines b USING (grp, path, type)
    WHERE k.c * b.before >= getvariable('schema_drift_min_expected') * b.after
)
SELECT c.* FROM changes c
WHERE NOT EXISTS (SELECT 1 FROM changes o WHERE o.grp = c.grp AND o.start = c.start AND o.change = c.change
                                              AND o.change <> 'type_changed' AND o.path = c.parent);

CREATE OR REPLACE VIEW drift_json_shown AS   -- per change (group, start) and partition: the records that show it
WITH starts AS (
    SELECT grp, start, bool_or(change = 'removed') AS removes,
           list({'path': path, 'change': change, 'from': "from", 'to': "to"} ORDER BY path, change) AS changes
    FROM drift_json_changes GROUP BY grp, start
), showing AS (   -- structures carrying an added path, or a changed path with its new type
    SELECT DISTINCT c.grp, c.start, p.sid
    FROM drift_json_changes c JOIN drift_paths p ON p.path = c.path AND (c.change = 'added' OR p.type = c."to")
    WHERE c.change <> 'removed'
)
SELECT s.grp, s.start, s.changes, v.partition, min(v."offset") AS first_offset, count(*) AS records,
       min(v."timestamp") AS first_ts, max(v."timestamp") AS last_ts
FROM starts s JOIN drift_values v ON v.grp = s.grp AND v.pos >= s.start
     LEFT JOIN showing w ON w.grp = s.grp AND w.start = s.start AND w.sid = v.sid
WHERE s.removes OR w.sid IS NOT NULL
GROUP BY ALL;

CREATE OR REPLACE VIEW drift_json_findings AS   -- event types with the same change list are one change
SELECT g.cluster_id, g.topic, g.producer, s.changes, s.partition,
       md5(to_json({'topic': g.topic, 'producer': g.producer, 'changes': s.changes}))[:16] AS change_id,
       list_sort(list(DISTINCT g.event_type)) AS event_types,
       min(s.first_offset) AS first_offset, sum(s.records)::BIGINT AS records,
       min(s.first_ts) AS first_ts, max(s.last_ts) AS last_ts
FROM drift_json_shown s JOIN drift_groups g USING (grp)
GROUP BY ALL;

CREATE OR REPLACE MACRO drift_change_text(c) AS
    CASE c.change WHEN 'added' THEN format('{} added ({})', c.path, c."to")
                  WHEN 'removed' THEN format('{} removed (was {})', c.path, c."from")
                  WHEN 'default_missing' THEN format('{} added without a default ({})', c.path, c."to")
                  ELSE format('{} {} -> {}', c.path, c."from", c."to") END;

-- Registry-framed ------------------------------------------------------------------------------

CREATE OR REPLACE VIEW schema_drift_ids AS   -- per topic and producer: each schema id in use, over time
SELECT cluster_id, topic, producer, schema_id, count(*) AS records,
       min("timestamp") AS first_ts, max("timestamp") AS last_ts,
       arg_min({'partition': partition, 'offset': "offset"}, ("timestamp", partition, "offset")) AS first_at,
       arg_max({'partition': partition, 'offset': "offset"}, ("timestamp", partition, "offset")) AS last_at
FROM drift_values WHERE schema_id IS NOT NULL
GROUP BY ALL;

CREATE OR REPLACE VIEW drift_id_changes AS   -- a subject's id first seen after another of its ids in the topic
SELECT n.cluster_id, n.topic, n.producer, n.schema_id, c.subject, c.previous_id, c.changes, c.compatibility
FROM schema_drift_ids n JOIN schema_drift_compat c ON c.schema_id = n.schema_id
WHERE EXISTS (SELECT 1 FROM schema_drift_ids o
              WHERE o.cluster_id = n.cluster_id AND o.topic = n.topic AND o.producer IS NOT DISTINCT FROM n.producer
                    AND o.schema_id = c.previous_id AND o.first_ts <= n.first_ts);

CREATE OR REPLACE VIEW drift_registry_findings AS
SELECT c.cluster_id, c.topic, c.producer, c.subject, c.schema_id, c.previous_id, c.changes, c.compatibility,
       v.partition, md5(to_json({'topic': c.topic, 'producer': c.producer, 'changes': c.changes,
                                 'schema_id': c.schema_id}))[:16] AS change_id,
       min(v."offset") AS first_offset, count(*) AS records, min(v."timestamp") AS first_ts, max(v."timestamp") AS last_ts
FROM drift_id_changes c JOIN drift_values v ON v.cluster_id = c.cluster_id AND v.topic = c.topic
     AND v.producer IS NOT DISTINCT FROM c.producer AND v.schema_id = c.schema_id
GROUP BY ALL;

CREATE OR REPLACE VIEW schema_drift_findings AS
SELECT 'schema_drift' AS "check",
       CASE WHEN list_bool_or(list_transform(changes, lambda c: c.change <> 'added')) THEN 'warning' ELSE 'info' END AS severity,
       topic, partition, NULL::BLOB AS key, [first_offset] AS offsets, []::VARCHAR[] AS event_ids,
       first_ts, last_ts,
       format('{}/{} from offset {}: producer {} ({}) changed its JSON values: {}; {} record{} here', topic, partition,
              first_offset, coalesce(producer, 'untagged'),
              CASE WHEN event_types = [NULL] THEN 'every event type' ELSE 'event type' ||
                   CASE WHEN len(event_types) > 1 THEN 's ' ELSE ' ' END || array_to_string(event_types, ', ') END,
              array_to_string(list_transform(changes, lambda c: drift_change_text(c)), ', '),
              records, CASE WHEN records = 1 THEN '' ELSE 's' END) AS detail,
       to_json({'subject': NULL::VARCHAR, 'producer': producer, 'change_id': change_id, 'changes': changes,
                'compatibility': NULL::VARCHAR, 'records': records}) AS facts
FROM drift_json_findings
UNION ALL
SELECT 'schema_drift', CASE WHEN compatibility IN ('BACKWARD', 'FULL') THEN 'info' ELSE 'warning' END,
       topic, partition, NULL::BLOB, [first_offset], []::VARCHAR[], first_ts, last_ts,
       format('{}/{} from offset {}: producer {} moved subject {} from schema id {} to {} ({} compatible{}): {}; {} record{} here',
              topic, partition, first_offset, coalesce(producer, 'untagged'), subject, previous_id, schema_id,
              compatibility, CASE WHEN compatibility = 'NONE' THEN ': neither way' ELSE '' END,
              coalesce(nullif(array_to_string(list_transform(changes, lambda c: drift_change_text(c)), ', '), ''), 'no field changed'),
              records, CASE WHEN records = 1 THEN '' ELSE 's' END),
       to_json({'subject': subject, 'producer': producer, 'change_id': change_id, 'changes': changes,
                'compatibility': compatibility, 'records': records})
FROM drift_registry_findings;
