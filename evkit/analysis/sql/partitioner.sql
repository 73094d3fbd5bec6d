-- partitioner: for each producer of a topic, which known partitioners put its keyed records where
-- they are, the most likely one and a confidence; flagged when the producers of a topic disagree or
-- when records sit where no known partitioner puts them.
--
-- Producer: records carry no client.id, so a producer is the value of a record header (name:
-- variable partitioner_producer_header, default 'producer' in evkit/analysis/registry.py). Records without that header are split
-- into inferred producers by placement: the candidate partitioners are ranked by how many of the
-- topic's untagged records they explain, and each record goes to the first that explains it
-- ('(no header) java_murmur2', ...; '(no header) unexplained' if none). Each inferred producer's key
-- set and time window are reported so they can be matched to deployments. Limits: two producers with
-- the same partitioner become one; a record that two partitioners happen to place alike (about 1 in
-- n) goes to the higher-ranked one; it needs many distinct keys.
--
-- Fit: a candidate explains a record when `hash % partition_count = partition` (hashes from
-- key_hashes, made by evkit/partitioning/checks.py; partition count recorded by the dump). A candidate is
-- consistent with a producer when it explains at least min_fit (default 0.99) of its keyed records:
-- not 1.0 so that a few records sent to an explicit partition do not hide the partitioner, while a
-- wrong partitioner explains about 1/n of them (at most 50%, for n = 2). Several consistent
-- candidates = ambiguous (too few distinct keys, or one partition): reported as such, never guessed.
-- Confidence = the share of the producer's keyed records the named partitioner explains.
-- Null and empty keys are left out: clients send them to random, sticky or fixed partitions.

CREATE OR REPLACE MACRO producer_header_name() AS getvariable('partitioner_producer_header');
CREATE OR REPLACE MACRO partitioner_min_fit() AS getvariable('partitioner_min_fit');

CREATE OR REPLACE VIEW topic_partition_counts AS
SELECT m.cluster_id, m.topic, coalesce(any_value(t.partition_count), max(m.partition) + 1) AS partition_count
FROM manifests m LEFT JOIN topics t USING (cluster_id, topic)
GROUP BY m.cluster_id, m.topic;

-- Records with the same key, partition and producer tag fit the same candidates, so they are
-- counted as one group (n records, their offsets and time range): the work below scales with the
-- distinct (key, partition, tag) triples, not with the records.
CREATE OR REPLACE TABLE keyed_groups AS
SELECT row_number() OVER () AS group_id, *
FROM (
SELECT r.cluster_id, r.topic, r.partition, r.key, c.partition_count,
       struct_extract(list_filter(r.headers, lambda h: h.key = producer_header_name())[-1], 'value') AS tag,
       count(*) AS n, list(r."offset" ORDER BY r."offset") AS offsets,
       min(r."timestamp") AS first_ts, max(r."timestamp") AS last_ts
FROM records r JOIN topic_partition_counts c USING (cluster_id, topic)
WHERE octet_length(r.key) > 0
GROUP BY ALL
);

-- Tables, not views, where later views read a result several times.
CREATE OR REPLACE TABLE group_fits AS
SELECT k.group_id, k.cluster_id, k.topic, k.partition, k.key, k.partition_count, k.n, k.offsets, k.first_ts,
       k.last_ts, coalesce(try(decode(k.tag)), '0x' || lower(hex(k.tag))) AS tag,
       h.partitioner, h.hash, h.hash % k.partition_count = k.partition AS fits
FROM keyed_groups k JOIN key_hashes h USING (key);

CREATE OR REPLACE VIEW untagged_ranking AS
SELECT cluster_id, topic, partitioner,
       row_number() OVER (PARTITION BY cluster_id, topic ORDER BY coalesce(sum(n) FILTER (WHERE fits), 0) DESC,
                          partitioner) AS rank
FROM group_fits
WHERE tag IS NULL
GROUP BY cluster_id, topic, partitioner;

CREATE OR REPLACE TABLE group_producers AS
SELECT f.group_id,
       coalesce(any_value(f.tag),
                '(no header) ' || coalesce(arg_min(f.partitioner, u.rank) FILTER (WHERE f.fits), 'unexplained')) AS producer
FROM group_fits f LEFT JOIN untagged_ranking u USING (cluster_id, topic, partitioner)
GROUP BY f.group_id;

CREATE OR REPLACE VIEW producer_fits AS
SELECT f.cluster_id, f.topic, p.producer, f.partitioner,
       sum(f.n)::BIGINT AS records, coalesce(sum(f.n) FILTER (WHERE f.fits), 0)::BIGINT AS fitted,
       count(DISTINCT f.key) AS keys, min(f.first_ts) AS first_ts, max(f.last_ts) AS last_ts
FROM group_fits f JOIN group_producers p USING (group_id)
GROUP BY f.cluster_id, f.topic, p.producer, f.partitioner;

CREATE OR REPLACE TABLE producer_partitioners AS
SELECT *,
       CASE len(consistent) WHEN 0 THEN 'unexplained' WHEN 1 THEN 'attributed' ELSE 'ambiguous' END AS verdict,
       CASE WHEN len(consistent) = 1 THEN consistent[1] END AS partitioner,
       best_fitted / records AS confidence
FROM (
    SELECT cluster_id, topic, producer, any_value(records) AS records, any_value(keys) AS keys,
           any_value(first_ts) AS first_ts, any_value(last_ts) AS last_ts,
           coalesce(list(partitioner ORDER BY partitioner) FILTER (WHERE fitted >= partitioner_min_fit() * records),
                    []::VARCHAR[]) AS consistent,
           first(partitioner ORDER BY fitted DESC, partitioner) AS best, max(fitted) AS best_fitted,  -- ties: by name
           list(fitted ORDER BY fitted DESC)[2] / any_value(records) AS runner_up_fit
    FROM producer_fits
    GROUP BY cluster_id, topic, producer
);

-- A topic's producers agree when one candidate is consistent with every one of them.
CREATE OR REPLACE VIEW topic_partitioner_agreement AS
SELECT p.cluster_id, p.topic, p.producers, coalesce(max(s.supporters), 0) = p.producers AS agree,
       any_value(p.summary) AS summary
FROM (SELECT cluster_id, topic, count(*) AS producers,
             string_agg(format('{}: {}', producer, coalesce(partitioner, verdict)), ', ' ORDER BY producer) AS summary
      FROM producer_partitioners GROUP BY cluster_id, topic) p
LEFT JOIN (SELECT cluster_id, topic, partitioner, count(*) AS supporters
           FROM (SELECT cluster_id, topic, unnest(consistent) AS partitioner FROM producer_partitioners)
           GROUP BY cluster_id, topic, partitioner) s USING (cluster_id, topic)
GROUP BY p.cluster_id, p.topic, p.producers;

CREATE OR REPLACE VIEW partitioner_findings AS
SELECT 'partitioner' AS "check", 'warning' AS severity, p.topic, NULL::INTEGER AS partition, NULL::BLOB AS key,
       []::BIGINT[] AS offsets, NULL::VARCHAR[] AS event_ids, p.first_ts, p.last_ts,
       format('producer {} wrote {} keyed record(s) with {} distinct key(s) to {}: {}. Producers of {}: {}',
              '''' || p.producer || '''', p.records, p.keys, p.topic,
              CASE p.verdict
                  WHEN 'attributed' THEN format('placed by {}, confidence {}% (next best candidate {}%)',
                      p.partitioner, round(100 * p.confidence, 1), round(100 * coalesce(p.runner_up_fit, 0), 1))
                  WHEN 'ambiguous' THEN format('ambiguous: {} all explain at least {}% of them, too few distinct keys to tell apart',
                      array_to_string(p.consistent, ', '), round(100 * partitioner_min_fit(), 1))
                  ELSE format('no known partitioner puts them where they are; best {} explains {}% (explicit partitions, a custom partitioner, or a grown topic: see partition_count_change)',
                      p.best, round(100 * p.confidence, 1))
              END,
              p.topic, a.summary) AS detail,
       to_json({'producer': p.producer, 'inferred': starts_with(p.producer, '(no header)'), 'verdict': p.consistent,
                'best': p.best, 'confidence': p.confidence, 'records': p.records, 'keys': p.keys}) AS facts
FROM producer_partitioners p JOIN topic_partitioner_agreement a USING (cluster_id, topic)
WHERE NOT a.agree;
