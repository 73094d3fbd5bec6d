-- key_encoding: different key bytes that are the same logical key in one topic.
-- Partitioners hash bytes, so "42" as UTF-8 text, as a 4- or 8-byte big-endian integer (Java's
-- IntegerSerializer / LongSerializer), as a JSON string and as a Schema Registry framed key (magic
-- byte 0, 4-byte schema id, then Avro or JSON) are four keys on unrelated partitions.
-- Each distinct key is read as:
--   utf8            valid UTF-8 with only printable ASCII, or any other valid UTF-8 text
--   json_string     UTF-8 text that is a JSON string ("42" with the quotes)
--   int32_be        exactly 4 bytes that are not printable ASCII text
--   int64_be        exactly 8 bytes that are not printable ASCII text (and not a framed key below)
--   sr_avro_string  0x00 + schema id + Avro string (zigzag varint length, then UTF-8)
--   sr_avro_long    0x00 + schema id + one Avro long (zigzag varint) and nothing after it
--   sr_json         0x00 + schema id + JSON text (a string or a number)
-- and normalised: text that is a decimal integer becomes that integer's canonical decimal, so all
-- of the above can meet. Limits: a 4- or 8-byte integer whose bytes are printable ASCII (0x31323334)
-- reads as text; Avro without its schema is guessed (a long or a string only); Protobuf keys are not
-- decoded. One finding per topic and logical key written in at least two ways.
-- Needs the macros evkit.hashchecks.register_macros defines (key_label, iso_ms).

CREATE OR REPLACE MACRO key_byte(k, i) AS ('0x' || substr(hex(k), 2 * i + 1, 2))::INTEGER;  -- i from 0
CREATE OR REPLACE MACRO bytes_from(k, i) AS unhex(substr(hex(k), 2 * i + 1));  -- k without its first i bytes
CREATE OR REPLACE MACRO signed_be(k, bits) AS
    (('0x' || hex(k))::UHUGEINT::HUGEINT - CASE WHEN key_byte(k, 0) >= 128 THEN (1::HUGEINT << bits) ELSE 0 END);
-- Length in bytes of the varint starting at byte i of k (0 if it runs past the end).
CREATE OR REPLACE MACRO varint_length(k, i) AS
    coalesce(list_position(list_transform(range(i, octet_length(k)), lambda j: key_byte(k, j) < 128), true), 0);
CREATE OR REPLACE MACRO varint_value(k, i, n) AS   -- at most 10 bytes are read: 70 bits fit a HUGEINT
    list_sum(list_transform(range(least(n, 10)), lambda j: (key_byte(k, i + j) & 127)::HUGEINT << (7 * j)));
CREATE OR REPLACE MACRO zigzag(v) AS xor(v >> 1, -(v & 1));
-- Decimal integer text at any length without leading zeros ("042" -> "42", "-0" -> "0"); "+42" stays.
CREATE OR REPLACE MACRO canonical_text(t) AS
    CASE WHEN NOT regexp_full_match(t, '-?[0-9]+') THEN t
         WHEN ltrim(ltrim(t, '-'), '0') = '' THEN '0'
         ELSE CASE WHEN starts_with(t, '-') THEN '-' ELSE '' END || ltrim(ltrim(t, '-'), '0') END;

CREATE OR REPLACE VIEW distinct_keys AS
SELECT cluster_id, topic, key, any_value(key_text) AS text, octet_length(key) AS size
FROM records
WHERE octet_length(key) > 0
GROUP BY cluster_id, topic, key;

CREATE OR REPLACE VIEW key_readings AS
SELECT cluster_id, topic, key, encoding,
       CASE encoding
           WHEN 'json_string' THEN canonical_text(text::JSON ->> '$')
           WHEN 'int32_be' THEN signed_be(key, 32)::VARCHAR
           WHEN 'int64_be' THEN signed_be(key, 64)::VARCHAR
           WHEN 'utf8' THEN canonical_text(text)
           WHEN 'sr_avro_long' THEN zigzag(varint_value(key, 5, head))::VARCHAR
           WHEN 'sr_avro_string' THEN canonical_text(decode(bytes_from(key, 5 + head)))
           WHEN 'sr_json' THEN canonical_text(decode(bytes_from(key, 5))::JSON ->> '$')
       END AS logical
FROM (
    SELECT *,
           CASE WHEN framed AND head = size - 5 THEN 'sr_avro_long'
                WHEN framed AND head > 0 AND zigzag(varint_value(key, 5, head)) = size - 5 - head
                     AND try(decode(bytes_from(key, 5 + head))) IS NOT NULL THEN 'sr_avro_string'
                WHEN framed AND json_type(try(decode(bytes_from(key, 5))::JSON)) IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN 'sr_json'
                WHEN starts_with(text, '"') AND json_type(try(text::JSON)) = 'VARCHAR' THEN 'json_string'
                WHEN size IN (4, 8) AND NOT coalesce(regexp_full_match(text, '[ -~]+'), false)
                     THEN CASE size WHEN 4 THEN 'int32_be' ELSE 'int64_be' END
                WHEN text IS NOT NULL THEN 'utf8'
           END AS encoding
    FROM (SELECT *, size >= 6 AND key_byte(key, 0) = 0 AS framed,
                 -- an Avro long is a varint of at most 10 bytes below 2^64; 0 = no such varint here
                 CASE WHEN size >= 6 AND key_byte(key, 0) = 0 AND varint_length(key, 5) BETWEEN 1 AND 10
                           AND varint_value(key, 5, varint_length(key, 5)) < (1::HUGEINT << 64)
                      THEN varint_length(key, 5) ELSE 0 END AS head
          FROM distinct_keys)
)
WHERE encoding IS NOT NULL;

CREATE OR REPLACE VIEW key_encoding_placements AS
SELECT k.cluster_id, k.topic, k.logical, k.encoding, r.key,
       count(*) AS records, list(DISTINCT r.partition ORDER BY r.partition) AS partitions,
       list(r."offset" ORDER BY r.partition, r."offset") AS offsets,
       min(r."timestamp") AS first_ts, max(r."timestamp") AS last_ts,
       coalesce(list_sort(list(DISTINCT try(decode(struct_extract(list_filter(r.headers, lambda h: h.key = getvariable('partitioner_producer_header'))[-1], 'value')))) FILTER (WHERE len(list_filter(r.headers, lambda h: h.key = getvariable('partitioner_producer_header'))) > 0)), []) AS producers,
       count(*) OVER (PARTITION BY k.cluster_id, k.topic, k.logical) AS encodings
FROM key_readings k JOIN records r USING (cluster_id, topic, key)
GROUP BY k.cluster_id, k.topic, k.logical, k.encoding, r.key
QUALIFY encodings > 1;

CREATE OR REPLACE VIEW key_encoding_findings AS
SELECT 'key_encoding' AS "check", 'warning' AS severity, topic, NULL::INTEGER AS partition,
       first(key ORDER BY encoding, key) AS key, flatten(list(offsets ORDER BY encoding, key)) AS offsets,
       NULL::VARCHAR[] AS event_ids, min(first_ts) AS first_ts, max(last_ts) AS last_ts,
       format('logical key {} is written as {} different keys in {}: {}', logical, count(*), topic,
              string_agg(format('{} {} ({} record{}, partition{} {})', encoding, key_label(key), records,
                                CASE WHEN records = 1 THEN '' ELSE 's' END,
                                CASE WHEN len(partitions) = 1 THEN '' ELSE 's' END, array_to_string(partitions, ', ')),
                         '; ' ORDER BY encoding, key)) AS detail,
       to_json({'logical_key': logical,
                'encodings': list({'encoding': encoding, 'key': CASE WHEN try(decode(key)) IS NULL THEN 'base64:' || to_base64(key) ELSE decode(key) END,
                                   'records': records, 'partitions': partitions, 'producers': producers}
                                  ORDER BY encoding, key)}) AS facts
FROM key_encoding_placements
GROUP BY cluster_id, topic, logical;
