"""Add a `facts` column to the checks' findings views (issue 15). Usage: patch_facts.py ROOT"""
import sys
ROOT = sys.argv[1]
HDR = "try(decode(struct_extract(list_filter({h}, lambda h: h.key = getvariable('partitioner_producer_header'))[-1], 'value')))"
HAS = "len(list_filter({h}, lambda h: h.key = getvariable('partitioner_producer_header'))) > 0"
KEYTEXT = "CASE WHEN try(decode({k})) IS NULL THEN 'base64:' || to_base64({k}) ELSE decode({k}) END"

def edit(path, old, new, count=1):
    path = f"{ROOT}/evkit/analysis/sql/{path}"
    s = open(path).read()
    assert s.count(old) == count, (path, old[:70], s.count(old))
    open(path, 'w').write(s.replace(old, new))

edit('sequence_gap.sql', """              before_sequence, before_partition, before_offset, after_sequence, after_partition, after_offset) AS detail
FROM sequence_gaps""", """              before_sequence, before_partition, before_offset, after_sequence, after_partition, after_offset) AS detail,
       to_json({'status': status, 'entity': entity, 'missing': [missing_from, missing_to],
                'positions': [[before_partition, before_offset], [after_partition, after_offset]]}) AS facts
FROM sequence_gaps""")
edit('sequence_gap.sql', """              entity, topic, partition, previous_sequence, previous_offset, sequence, "offset")
FROM sequence_regressions;""", """              entity, topic, partition, previous_sequence, previous_offset, sequence, "offset"),
       to_json({'entity': entity, 'from': previous_sequence, 'to': sequence})
FROM sequence_regressions;""")

edit('silence.sql', """              silence_ms / 1000, silence_ms / greatest(mean_interval_ms, 1), mean_interval_ms / 1000, events) AS detail
FROM silences;""", """              silence_ms / 1000, silence_ms / greatest(mean_interval_ms, 1), mean_interval_ms / 1000, events) AS detail,
       to_json({'scope': scope, 'entity': entity, 'silent_ms': silence_ms, 'usual_ms': mean_interval_ms,
                'factor': silence_ms / greatest(mean_interval_ms, 1), 'events': events}) AS facts
FROM silences;""")

edit('out_of_order.sql', """              lateness_ms / 1000, scope) AS detail
FROM late_events""", """              lateness_ms / 1000, scope) AS detail,
       to_json({'scope': scope, 'entity': entity, 'lateness_ms': lateness_ms}) AS facts
FROM late_events""")
edit('out_of_order.sql', """              entity, topic, array_to_string(partition_list, ','), array_to_string(events_per_partition, '+'))
FROM split_entities;""", """              entity, topic, array_to_string(partition_list, ','), array_to_string(events_per_partition, '+')),
       to_json({'scope': 'split', 'entity': entity,
                'partitions': list_transform(list_zip(partition_list, events_per_partition),
                                             lambda p: {'partition': p[1], 'events': p[2]}),
                'keys': list_transform(keys, lambda k: """ + KEYTEXT.format(k="k") + """)})
FROM split_entities;""")
edit('out_of_order.sql', """           min(timestamp) AS first_ts, max(timestamp) AS last_ts, arg_min(key, "offset") AS key
    FROM events""", """           min(timestamp) AS first_ts, max(timestamp) AS last_ts, arg_min(key, "offset") AS key,
           list(DISTINCT key) FILTER (WHERE key IS NOT NULL) AS keys
    FROM events""")
edit('out_of_order.sql', """       arg_min(key, {'first_ts': first_ts, 'partition': partition}) AS key
FROM per_partition""", """       arg_min(key, {'first_ts': first_ts, 'partition': partition}) AS key,
       list_sort(list_distinct(flatten(list(coalesce(keys, []))))) AS keys
FROM per_partition""")

edit('duplicate.sql', """              CASE WHEN kind = 'exact' THEN '' WHEN identical_bytes THEN ' (identical bytes)' ELSE ' (different bytes)' END
       ) AS detail
FROM duplicates""", """              CASE WHEN kind = 'exact' THEN '' WHEN identical_bytes THEN ' (identical bytes)' ELSE ' (different bytes)' END
       ) AS detail,
       to_json({'kind': kind, 'positions': list_transform(positions, lambda p: [p.partition, p.offset])}) AS facts
FROM duplicates""")
edit('duplicate.sql', """              array_to_string(original_partitions, ','), epoch(min_delay))
FROM republications;""", """              array_to_string(original_partitions, ','), epoch(min_delay)),
       to_json({'kind': 'burst', 'copies': {'partition': partition, 'first': first_offset, 'last': last_offset, 'records': copies},
                'originals': originals, 'delay_ms': round(epoch(min_delay) * 1000)::BIGINT})
FROM republications;""")
edit('duplicate.sql', """SELECT cluster_id, topic, partition, count(*) AS copies,
       min("offset") AS first_offset, max("offset") AS last_offset,""", """, original_ranges AS (   -- each burst's originals as offset ranges, per partition (facts of the finding)
    SELECT cluster_id, topic, partition, burst,
           list({'partition': original_partition, 'first': first, 'last': last} ORDER BY original_partition) AS originals
    FROM (SELECT cluster_id, topic, partition, burst, original_partition,
                 min(original_offset) AS first, max(original_offset) AS last
          FROM numbered GROUP BY ALL)
    GROUP BY ALL
)
SELECT cluster_id, topic, partition, count(*) AS copies,
       min("offset") AS first_offset, max("offset") AS last_offset,""")
edit('duplicate.sql', """       min(timestamp) AS first_ts, max(timestamp) AS last_ts
FROM numbered
GROUP BY cluster_id, topic, partition, burst
HAVING""", """       min(timestamp) AS first_ts, max(timestamp) AS last_ts,
       any_value(o.originals) AS originals
FROM numbered JOIN original_ranges o USING (cluster_id, topic, partition, burst)
GROUP BY cluster_id, topic, partition, burst
HAVING""")

edit('partitioner.sql', """              p.topic, a.summary) AS detail
FROM producer_partitioners p""", """              p.topic, a.summary) AS detail,
       to_json({'producer': p.producer, 'inferred': starts_with(p.producer, '(no header)'), 'verdict': p.consistent,
                'best': p.best, 'confidence': p.confidence, 'records': p.records, 'keys': p.keys}) AS facts
FROM producer_partitioners p""")

edit('key_encoding.sql', """                         '; ' ORDER BY encoding, key)) AS detail
FROM key_encoding_placements""", """                         '; ' ORDER BY encoding, key)) AS detail,
       to_json({'logical_key': logical,
                'encodings': list({'encoding': encoding, 'key': """ + KEYTEXT.format(k="key") + """,
                                   'records': records, 'partitions': partitions, 'producers': producers}
                                  ORDER BY encoding, key)}) AS facts
FROM key_encoding_placements""")
edit('key_encoding.sql', """       min(r."timestamp") AS first_ts, max(r."timestamp") AS last_ts,
       count(*) OVER (PARTITION BY k.cluster_id, k.topic, k.logical) AS encodings""", """       min(r."timestamp") AS first_ts, max(r."timestamp") AS last_ts,
       coalesce(list_sort(list(DISTINCT """ + HDR.format(h="r.headers") + """) FILTER (WHERE """ + HAS.format(h="r.headers") + """)), []) AS producers,
       count(*) OVER (PARTITION BY k.cluster_id, k.topic, k.logical) AS encodings""")

edit('split_key.sql', """       list("offset" ORDER BY "offset") AS offsets,
       count(*) OVER (PARTITION BY cluster_id, topic, key) AS partitions""", """       list("offset" ORDER BY "offset") AS offsets,
       coalesce(list_sort(list(DISTINCT """ + HDR.format(h="headers") + """) FILTER (WHERE """ + HAS.format(h="headers") + """)), []) AS producers,
       count(*) OVER (PARTITION BY cluster_id, topic, key) AS partitions""")
edit('split_key.sql', """                  '; ' ORDER BY partition) AS placements
FROM split_key_placements""", """                  '; ' ORDER BY partition) AS placements,
       list({'partition': partition, 'records': records, 'producers': producers} ORDER BY partition) AS placement_facts
FROM split_key_placements""")
edit('split_key.sql', """              partitions, topic, placements) AS detail
FROM split_keys;""", """              partitions, topic, placements) AS detail,
       to_json({'partitions': placement_facts}) AS facts
FROM split_keys;""")
print("patched", ROOT)
