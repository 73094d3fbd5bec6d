/* The part of librdkafka's public C API (rdkafka.h, BSD-2-Clause, stable ABI since 1.0) that
 * evkit's native reader calls. The functions are not linked: _native_reader.c resolves them with
 * dlsym() in the librdkafka that confluent-kafka loaded (its wheel bundles one), so building the
 * reader needs only a C compiler, and it runs on the very library the Python reader uses. */
#ifndef EVKIT_RDKAFKA_ABI_H
#define EVKIT_RDKAFKA_ABI_H

#include <stddef.h>
#include <stdint.h>

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct rd_kafka_topic_s rd_kafka_topic_t;
typedef struct rd_kafka_queue_s rd_kafka_queue_t;
typedef struct rd_kafka_headers_s rd_kafka_headers_t;
typedef struct rd_kafka_error_s rd_kafka_error_t;
typedef int rd_kafka_resp_err_t;

#define RD_KAFKA_CONSUMER 1
#define RD_KAFKA_CONF_OK 0
#define RD_KAFKA_RESP_ERR__PARTITION_EOF (-191)
#define RD_KAFKA_RESP_ERR__FATAL (-150)

typedef struct rd_kafka_message_s {
    rd_kafka_resp_err_t err;
    rd_kafka_topic_t *rkt;
    int32_t partition;
    void *payload;
    size_t len;
    void *key;
    size_t key_len;
    int64_t offset;
    void *_private;
} rd_kafka_message_t;

typedef struct rd_kafka_topic_partition_s {
    char *topic;
    int32_t partition;
    int64_t offset;
    void *metadata;
    size_t metadata_size;
    void *opaque;
    rd_kafka_resp_err_t err;
    void *_private;
} rd_kafka_topic_partition_t;

typedef struct rd_kafka_topic_partition_list_s {
    int cnt;
    int size;
    rd_kafka_topic_partition_t *elems;
} rd_kafka_topic_partition_list_t;

/* X(return type, name, parameters): every function the reader resolves. */
#define RDKAFKA_FUNCTIONS(X) \
    X(rd_kafka_conf_t *, rd_kafka_conf_new, (void)) \
    X(int, rd_kafka_conf_set, (rd_kafka_conf_t *, const char *, const char *, char *, size_t)) \
    X(void, rd_kafka_conf_set_error_cb, (rd_kafka_conf_t *, void (*)(rd_kafka_t *, int, const char *, void *))) \
    X(void, rd_kafka_conf_set_log_cb, (rd_kafka_conf_t *, void (*)(const rd_kafka_t *, int, const char *, const char *))) \
    X(void, rd_kafka_conf_set_opaque, (rd_kafka_conf_t *, void *)) \
    X(void, rd_kafka_conf_destroy, (rd_kafka_conf_t *)) \
    X(void *, rd_kafka_opaque, (const rd_kafka_t *)) \
    X(rd_kafka_t *, rd_kafka_new, (int, rd_kafka_conf_t *, char *, size_t)) \
    X(const char *, rd_kafka_name, (const rd_kafka_t *)) \
    X(rd_kafka_resp_err_t, rd_kafka_poll_set_consumer, (rd_kafka_t *)) \
    X(rd_kafka_queue_t *, rd_kafka_queue_get_consumer, (rd_kafka_t *)) \
    X(void, rd_kafka_queue_destroy, (rd_kafka_queue_t *)) \
    X(long, rd_kafka_consume_batch_queue, (rd_kafka_queue_t *, int, rd_kafka_message_t **, size_t)) \
    X(void, rd_kafka_message_destroy, (rd_kafka_message_t *)) \
    X(int64_t, rd_kafka_message_timestamp, (const rd_kafka_message_t *, int *)) \
    X(rd_kafka_resp_err_t, rd_kafka_message_headers, (const rd_kafka_message_t *, rd_kafka_headers_t **)) \
    X(rd_kafka_resp_err_t, rd_kafka_header_get_all, (const rd_kafka_headers_t *, size_t, const char **, const void **, size_t *)) \
    X(const char *, rd_kafka_topic_name, (const rd_kafka_topic_t *)) \
    X(const char *, rd_kafka_err2str, (rd_kafka_resp_err_t)) \
    X(rd_kafka_resp_err_t, rd_kafka_fatal_error, (rd_kafka_t *, char *, size_t)) \
    X(rd_kafka_topic_partition_list_t *, rd_kafka_topic_partition_list_new, (int)) \
    X(rd_kafka_topic_partition_t *, rd_kafka_topic_partition_list_add, (rd_kafka_topic_partition_list_t *, const char *, int32_t)) \
    X(void, rd_kafka_topic_partition_list_destroy, (rd_kafka_topic_partition_list_t *)) \
    X(rd_kafka_resp_err_t, rd_kafka_assign, (rd_kafka_t *, const rd_kafka_topic_partition_list_t *)) \
    X(rd_kafka_error_t *, rd_kafka_seek_partitions, (rd_kafka_t *, rd_kafka_topic_partition_list_t *, int)) \
    X(const char *, rd_kafka_error_string, (const rd_kafka_error_t *)) \
    X(void, rd_kafka_error_destroy, (rd_kafka_error_t *)) \
    X(rd_kafka_resp_err_t, rd_kafka_pause_partitions, (rd_kafka_t *, rd_kafka_topic_partition_list_t *)) \
    X(rd_kafka_resp_err_t, rd_kafka_position, (rd_kafka_t *, rd_kafka_topic_partition_list_t *)) \
    X(rd_kafka_resp_err_t, rd_kafka_consumer_close, (rd_kafka_t *)) \
    X(void, rd_kafka_destroy, (rd_kafka_t *))

/* librdkafka >= 2.1; without it every leader epoch is null, as confluent-kafka reports it. */
typedef int32_t (*rd_kafka_message_leader_epoch_fn)(const rd_kafka_message_t *);

#endif
