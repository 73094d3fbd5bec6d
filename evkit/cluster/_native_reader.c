/* evkit's native dump reader: a librdkafka consumer that appends records straight into Arrow
 * buffers and hands Python one RecordBatch per partition and call, through the Arrow C Data
 * Interface, with the GIL released while it fetches and builds. No Python object per record.
 *
 * It only consumes (assign, seek, pause, position, consume); what to read and when a range is
 * done stay in evkit/cluster/reader.py, shared with the Python reader. librdkafka is resolved at
 * run time (load()) in the library confluent-kafka already loaded: see _rdkafka_abi.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_rdkafka_abi.h"

/* ---- librdkafka, resolved by load() ---------------------------------------------------------- */

#define DECLARE(ret, name, args) static ret(*p_##name) args;
RDKAFKA_FUNCTIONS(DECLARE)
static rd_kafka_message_leader_epoch_fn p_leader_epoch;
static void *library;

static PyObject *load(PyObject *self, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    if (library) Py_RETURN_NONE;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) return PyErr_Format(PyExc_ImportError, "cannot load librdkafka: %s", dlerror());
#define RESOLVE(ret, name, args)                                                                  \
    if (!(*(void **)(&p_##name) = dlsym(handle, #name))) {                                        \
        dlclose(handle);                                                                          \
        return PyErr_Format(PyExc_ImportError, "librdkafka at %s lacks %s", path, #name);         \
    }
    RDKAFKA_FUNCTIONS(RESOLVE)
    *(void **)(&p_leader_epoch) = dlsym(handle, "rd_kafka_message_leader_epoch");
    library = handle;
    Py_RETURN_NONE;
}

/* ---- growable buffers and the Arrow arrays they become ---------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf_t;

static int buf_grow(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static inline int buf_put(buf_t *b, const void *src, size_t n) {
    if (buf_grow(b, n)) return -1;
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

/* A validity bitmap with its null count; its buffer is dropped at export when nothing is null. */
typedef struct {
    buf_t bits;
    int64_t nulls;
} valid_t;

static inline int valid_put(valid_t *v, int64_t row, int ok) {
    if ((row & 7) == 0 && buf_grow(&v->bits, 1) == 0) v->bits.data[v->bits.len++] = 0;
    if ((size_t)(row >> 3) >= v->bits.len) return -1;
    if (ok) v->bits.data[row >> 3] |= (uint8_t)(1u << (row & 7));
    else v->nulls++;
    return 0;
}

/* A variable-size column (Arrow binary/string): int32 offsets and the bytes. */
typedef struct {
    buf_t offsets, data;
} varlen_t;

static inline int varlen_put(varlen_t *c, const void *src, size_t n) {
    if (c->data.len + n > INT32_MAX) return -1;
    int32_t end = (int32_t)(c->data.len + n);
    return buf_put(&c->data, src, n) || buf_put(&c->offsets, &end, 4);
}

/* One partition's records of one consume() call, column by column (RECORD_SCHEMA's order). */
typedef struct {
    char *topic;
    const rd_kafka_topic_t *rkt;
    int32_t partition;
    int64_t rows;
    varlen_t topic_col;
    buf_t partition_col, offset_col, timestamp_col, epoch_col, key_size, value_size;
    valid_t timestamp_valid, type_valid, key_valid, value_valid, epoch_valid, key_text_valid, header_value_valid;
    varlen_t type_col, key, value, header_name, header_value;
    buf_t header_offsets;
    int64_t headers;
} part_t;

#define N_BUFFERS 40 /* every buf_t a part_t owns, for the export's owner */

static void part_buffers(part_t *p, buf_t **out) {
    buf_t *list[N_BUFFERS] = {
        &p->topic_col.offsets, &p->topic_col.data, &p->partition_col, &p->offset_col, &p->timestamp_col,
        &p->epoch_col, &p->key_size, &p->value_size, &p->timestamp_valid.bits, &p->type_valid.bits,
        &p->key_valid.bits, &p->value_valid.bits, &p->epoch_valid.bits, &p->key_text_valid.bits,
        &p->header_value_valid.bits, &p->type_col.offsets, &p->type_col.data, &p->key.offsets, &p->key.data,
        &p->value.offsets, &p->value.data, &p->header_name.offsets, &p->header_name.data,
        &p->header_value.offsets, &p->header_value.data, &p->header_offsets,
    };
    memcpy(out, list, sizeof(list));
}

static int part_init(part_t *p, const rd_kafka_topic_t *rkt, const char *topic, int32_t partition) {
    memset(p, 0, sizeof(*p));
    p->topic = strdup(topic);
    p->rkt = rkt;
    p->partition = partition;
    int32_t zero = 0;
    varlen_t *cols[] = {&p->topic_col, &p->type_col, &p->key, &p->value, &p->header_name, &p->header_value};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        if (buf_put(&cols[i]->offsets, &zero, 4)) return -1;
    return p->topic && !buf_put(&p->header_offsets, &zero, 4) ? 0 : -1;
}

static void part_free(part_t *p) {
    buf_t *bufs[N_BUFFERS] = {0};
    part_buffers(p, bufs);
    for (int i = 0; i < N_BUFFERS && bufs[i]; i++) free(bufs[i]->data);
    free(p->topic);
    memset(p, 0, sizeof(*p));
}

/* UTF-8 as Python's strict decoder accepts it: no overlongs, surrogates or code points > U+10FFFF. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
    return 1;
}

static const char *TIMESTAMP_TYPES[] = {NULL, "create", "log_append"};

/* Append one consumed message; -1 when memory runs out or a column passes 2 GiB. */
static int part_append(part_t *p, const rd_kafka_message_t *m) {
    int64_t row = p->rows;
    int ok = 0;
    int tstype = 0;
    int64_t ts = p_rd_kafka_message_timestamp(m, &tstype);
    if (tstype < 0 || tstype > 2) tstype = 0;
    int32_t epoch = p_leader_epoch ? p_leader_epoch(m) : -1;
    int has_epoch = epoch >= 0;
    int32_t key_size = (int32_t)m->key_len, value_size = (int32_t)m->len;
    ok |= varlen_put(&p->topic_col, p->topic, strlen(p->topic));
    ok |= buf_put(&p->partition_col, &p->partition, 4);
    ok |= buf_put(&p->offset_col, &m->offset, 8);
    if (tstype == 0) ts = 0;
    ok |= buf_put(&p->timestamp_col, &ts, 8) | valid_put(&p->timestamp_valid, row, tstype != 0);
    const char *type = TIMESTAMP_TYPES[tstype];
    ok |= varlen_put(&p->type_col, type ? type : "", type ? strlen(type) : 0) | valid_put(&p->type_valid, row, type != NULL);
    ok |= varlen_put(&p->key, m->key, m->key ? m->key_len : 0) | valid_put(&p->key_valid, row, m->key != NULL);
    ok |= valid_put(&p->key_text_valid, row, m->key != NULL && valid_utf8(m->key, m->key_len));
    if (!m->key) key_size = 0;
    ok |= buf_put(&p->key_size, &key_size, 4);
    ok |= varlen_put(&p->value, m->payload, m->payload ? m->len : 0) | valid_put(&p->value_valid, row, m->payload != NULL);
    if (!m->payload) value_size = 0;
    ok |= buf_put(&p->value_size, &value_size, 4);
    rd_kafka_headers_t *headers = NULL;
    if (p_rd_kafka_message_headers(m, &headers) == 0 && headers) {
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0; p_rd_kafka_header_get_all(headers, i, &name, &value, &size) == 0; i++) {
            ok |= varlen_put(&p->header_name, name, strlen(name));
            ok |= varlen_put(&p->header_value, value, value ? size : 0);
            ok |= valid_put(&p->header_value_valid, p->headers++, value != NULL);
        }
    }
    if (p->headers > INT32_MAX) return -1;
    int32_t header_end = (int32_t)p->headers;
    ok |= buf_put(&p->header_offsets, &header_end, 4);
    if (!has_epoch) epoch = 0;
    ok |= buf_put(&p->epoch_col, &epoch, 4) | valid_put(&p->epoch_valid, row, has_epoch);
    p->rows++;
    return ok ? -1 : 0;
}

/* The Arrow C Data Interface (arrow/c/abi.h). */
struct ArrowArray {
    int64_t length, null_count, offset, n_buffers, n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

/* The data buffers of one exported batch, shared by its arrays and freed with the last of them. */
typedef struct {
    int refs;
    part_t part;
} owner_t;

static void owner_decref(owner_t *o) {
    if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        part_free(&o->part);
        free(o);
    }
}

static void release_array(struct ArrowArray *a) {
    for (int64_t i = 0; i < a->n_children; i++) {
        if (a->children[i]->release) a->children[i]->release(a->children[i]);
        free(a->children[i]);
    }
    free(a->children);
    free(a->buffers);
    owner_decref(a->private_data);
    a->release = NULL;
}

static const void *bitmap(const valid_t *v) { return v->nulls ? v->bits.data : NULL; }

static struct ArrowArray *array(owner_t *o, int64_t length, int64_t nulls, int n_buffers, const void *b0, const void *b1,
                                const void *b2, int n_children, struct ArrowArray **children) {
    struct ArrowArray *a = calloc(1, sizeof(*a));
    const void **buffers = calloc(3, sizeof(void *));
    struct ArrowArray **kids = n_children ? calloc(n_children, sizeof(void *)) : NULL;
    if (!a || !buffers || (n_children && !kids)) {
        free(a);
        free(buffers);
        free(kids);
        return NULL;
    }
    buffers[0] = b0;
    buffers[1] = b1;
    buffers[2] = b2;
    if (n_children) memcpy(kids, children, n_children * sizeof(void *));
    *a = (struct ArrowArray){length, nulls, 0, n_buffers, n_children, buffers, kids, NULL, release_array, o};
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_ACQ_REL);
    return a;
}

/* The struct array of a RECORD_SCHEMA batch; `p`'s buffers move into it (p is left empty). */
static struct ArrowArray *export_part(part_t *p) {
    owner_t *o = calloc(1, sizeof(*o));
    if (!o) return NULL;
    o->refs = 1;
    o->part = *p;
    memset(p, 0, sizeof(*p));
    part_t *q = &o->part;
    int64_t n = q->rows;
    struct ArrowArray *header_fields[2] = {
        array(o, q->headers, 0, 3, NULL, q->header_name.offsets.data, q->header_name.data.data, 0, NULL),
        array(o, q->headers, q->header_value_valid.nulls, 3, bitmap(&q->header_value_valid), q->header_value.offsets.data,
              q->header_value.data.data, 0, NULL),
    };
    struct ArrowArray *header_struct = array(o, q->headers, 0, 1, NULL, NULL, NULL, 2, header_fields);
    struct ArrowArray *columns[12] = {
        array(o, n, 0, 3, NULL, q->topic_col.offsets.data, q->topic_col.data.data, 0, NULL),
        array(o, n, 0, 2, NULL, q->partition_col.data, NULL, 0, NULL),
        array(o, n, 0, 2, NULL, q->offset_col.data, NULL, 0, NULL),
        array(o, n, q->timestamp_valid.nulls, 2, bitmap(&q->timestamp_valid), q->timestamp_col.data, NULL, 0, NULL),
        array(o, n, q->type_valid.nulls, 3, bitmap(&q->type_valid), q->type_col.offsets.data, q->type_col.data.data, 0, NULL),
        array(o, n, q->key_valid.nulls, 3, bitmap(&q->key_valid), q->key.offsets.data, q->key.data.data, 0, NULL),
        array(o, n, q->value_valid.nulls, 3, bitmap(&q->value_valid), q->value.offsets.data, q->value.data.data, 0, NULL),
        array(o, n, 0, 2, NULL, q->header_offsets.data, NULL, 1, &header_struct),
        array(o, n, q->epoch_valid.nulls, 2, bitmap(&q->epoch_valid), q->epoch_col.data, NULL, 0, NULL),
        array(o, n, q->key_valid.nulls, 2, bitmap(&q->key_valid), q->key_size.data, NULL, 0, NULL),
        array(o, n, q->value_valid.nulls, 2, bitmap(&q->value_valid), q->value_size.data, NULL, 0, NULL),
        array(o, n, q->key_text_valid.nulls, 3, bitmap(&q->key_text_valid), q->key.offsets.data, q->key.data.data, 0, NULL),
    };
    struct ArrowArray *root = array(o, n, 0, 1, NULL, NULL, NULL, 12, columns);
    owner_decref(o); /* the arrays hold it now */
    int complete = root && header_struct && header_fields[0] && header_fields[1];
    for (int i = 0; i < 12; i++) complete = complete && columns[i];
    if (complete) return root;
    /* an allocation failed: release each array made, alone (its children are in the list too) */
    struct ArrowArray *made[16] = {root, header_struct, header_fields[0], header_fields[1]};
    memcpy(made + 4, columns, sizeof(columns));
    for (int i = 0; i < 16; i++) {
        if (made[i]) { made[i]->n_children = 0; made[i]->release(made[i]); free(made[i]); }
    }
    return NULL;
}

/* ---- Batch: one exported RecordBatch, imported by pyarrow from its address -------------------- */

typedef struct {
    PyObject_HEAD struct ArrowArray *array;
} Batch;

static void Batch_dealloc(Batch *self) {
    if (self->array) {
        if (self->array->release) self->array->release(self->array);
        free(self->array);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Batch_address(Batch *self, void *closure) { return PyLong_FromVoidPtr(self->array); }

static PyGetSetDef Batch_getset[] = {
    {"address", (getter)Batch_address, NULL, "the address of its struct ArrowArray, for RecordBatch._import_from_c", NULL},
    {NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "evkit.cluster._native_reader.Batch",
    .tp_basicsize = sizeof(Batch),
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One partition's records as an exported Arrow struct array (RECORD_SCHEMA).",
    .tp_getset = Batch_getset,
};

/* ---- Consumer ---------------------------------------------------------------------------------- */

typedef struct event_s {
    struct event_s *next;
    int kind; /* 0: error callback, 1: log line */
    int code_or_level, fatal;
    char *facility, *text;
} event_t;

typedef struct {
    PyObject_HEAD rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    pthread_mutex_t lock; /* guards the events, which librdkafka's threads append */
    event_t *events, *events_tail;
    int dropped_logs, pending_logs;
} Consumer;

static void push_event(Consumer *c, int kind, int code, int fatal, const char *facility, const char *text) {
    event_t *e = calloc(1, sizeof(*e));
    if (!e) return;
    pthread_mutex_lock(&c->lock);
    if (kind == 1 && c->pending_logs >= 10000) { /* nobody drains: keep memory bounded */
        c->dropped_logs++;
        pthread_mutex_unlock(&c->lock);
        free(e);
        return;
    }
    *e = (event_t){NULL, kind, code, fatal, facility ? strdup(facility) : NULL, strdup(text ? text : "")};
    if (c->events_tail) c->events_tail->next = e;
    else c->events = e;
    c->events_tail = e;
    c->pending_logs += kind == 1;
    pthread_mutex_unlock(&c->lock);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    Consumer *c = opaque;
    char fatal_reason[512];
    int fatal = 0;
    if (err == RD_KAFKA_RESP_ERR__FATAL) { /* as confluent-kafka reports it: the underlying error, fatal */
        err = p_rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason));
        reason = fatal_reason;
        fatal = 1;
    }
    push_event(c, 0, err, fatal, NULL, reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *line) {
    Consumer *c = p_rd_kafka_opaque(rk);
    if (c) push_event(c, 1, level, 0, facility, line);
}

static int Consumer_init(Consumer *self, PyObject *args, PyObject *kwds) {
    PyObject *config;
    if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &config)) return -1;
    if (!library) {
        PyErr_SetString(PyExc_RuntimeError, "librdkafka is not loaded: call load(path) first");
        return -1;
    }
    if (self->rk) {
        PyErr_SetString(PyExc_RuntimeError, "Consumer is already initialised");
        return -1;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = p_rd_kafka_conf_new();
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(config, &pos, &key, &value)) {
        const char *k = PyUnicode_AsUTF8(key), *v = PyUnicode_AsUTF8(value);
        if (!k || !v) { p_rd_kafka_conf_destroy(conf); return -1; }
        if (p_rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            p_rd_kafka_conf_destroy(conf);
            PyErr_SetString(PyExc_ValueError, errstr);
            return -1;
        }
    }
    pthread_mutex_init(&self->lock, NULL);
    p_rd_kafka_conf_set_opaque(conf, self);
    p_rd_kafka_conf_set_error_cb(conf, on_error);
    p_rd_kafka_conf_set_log_cb(conf, on_log);
    self->rk = p_rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!self->rk) {
        p_rd_kafka_conf_destroy(conf);
        PyErr_SetString(PyExc_ValueError, errstr);
        return -1;
    }
    p_rd_kafka_poll_set_consumer(self->rk); /* error callbacks are served while consuming */
    self->queue = p_rd_kafka_queue_get_consumer(self->rk);
    return 0;
}

static int closed(Consumer *self) {
    if (self->rk) return 0;
    PyErr_SetString(PyExc_RuntimeError, "the consumer is closed");
    return 1;
}

/* [(topic, partition[, offset]), ...] as a partition list; NULL with an exception set on bad input. */
static rd_kafka_topic_partition_list_t *partition_list(PyObject *items, int with_offsets) {
    PyObject *seq = PySequence_Fast(items, "expected a list of (topic, partition[, offset])");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    rd_kafka_topic_partition_list_t *list = p_rd_kafka_topic_partition_list_new((int)n);
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *topic;
        int partition;
        long long offset = -1001;
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!(with_offsets ? PyArg_ParseTuple(item, "siL", &topic, &partition, &offset)
                           : PyArg_ParseTuple(item, "si", &topic, &partition))) {
            p_rd_kafka_topic_partition_list_destroy(list);
            Py_DECREF(seq);
            return NULL;
        }
        p_rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    }
    Py_DECREF(seq);
    return list;
}

static PyObject *kafka_failure(const char *what, rd_kafka_resp_err_t err) {
    return PyErr_Format(PyExc_RuntimeError, "%s failed: %s (%d)", what, p_rd_kafka_err2str(err), err);
}

static PyObject *Consumer_assign(Consumer *self, PyObject *items) {
    if (closed(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = partition_list(items, 1);
    if (!list) return NULL;
    rd_kafka_resp_err_t err = p_rd_kafka_assign(self->rk, list);
    p_rd_kafka_topic_partition_list_destroy(list);
    if (err) return kafka_failure("assign", err);
    Py_RETURN_NONE;
}

static PyObject *Consumer_seek(Consumer *self, PyObject *args) {
    const char *topic;
    int partition;
    long long offset;
    if (closed(self) || !PyArg_ParseTuple(args, "siL", &topic, &partition, &offset)) return NULL;
    rd_kafka_topic_partition_list_t *list = p_rd_kafka_topic_partition_list_new(1);
    p_rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    rd_kafka_error_t *error;
    Py_BEGIN_ALLOW_THREADS error = p_rd_kafka_seek_partitions(self->rk, list, 0);
    Py_END_ALLOW_THREADS
    int err = list->elems[0].err;
    p_rd_kafka_topic_partition_list_destroy(list);
    if (error) {
        PyErr_Format(PyExc_RuntimeError, "seek failed: %s", p_rd_kafka_error_string(error));
        p_rd_kafka_error_destroy(error);
        return NULL;
    }
    if (err) return kafka_failure("seek", err);
    Py_RETURN_NONE;
}

static PyObject *Consumer_pause(Consumer *self, PyObject *items) {
    if (closed(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = partition_list(items, 0);
    if (!list) return NULL;
    rd_kafka_resp_err_t err = p_rd_kafka_pause_partitions(self->rk, list);
    p_rd_kafka_topic_partition_list_destroy(list);
    if (err) return kafka_failure("pause", err);
    Py_RETURN_NONE;
}

static PyObject *Consumer_position(Consumer *self, PyObject *items) {
    if (closed(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = partition_list(items, 0);
    if (!list) return NULL;
    rd_kafka_resp_err_t err = p_rd_kafka_position(self->rk, list);
    if (err) {
        p_rd_kafka_topic_partition_list_destroy(list);
        return kafka_failure("position", err);
    }
    PyObject *result = PyList_New(list->cnt);
    for (int i = 0; result && i < list->cnt; i++) PyList_SET_ITEM(result, i, PyLong_FromLongLong(list->elems[i].offset));
    p_rd_kafka_topic_partition_list_destroy(list);
    return result;
}

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
    int code;
    char *text;
} notice_t; /* a partition EOF (code 0) or a message-level error */

#define MAX_PARTS 4096
#define MAX_CALL_BYTES (256 * 1024 * 1024) /* below 2 GiB per column, whatever the records */
#define CHUNK 1024

/* consume(max_records, timeout, fill) -> ([(topic, partition, Batch)], [(topic, partition, offset)],
 * [(code, reason, topic, partition)]): waits up to `timeout` s for the first message, then takes
 * what arrives until max_records, a partition EOF or error, or `fill` s without a full batch. */
static PyObject *Consumer_consume(Consumer *self, PyObject *args) {
    Py_ssize_t max_records;
    double timeout, fill;
    if (closed(self) || !PyArg_ParseTuple(args, "ndd", &max_records, &timeout, &fill)) return NULL;
    part_t *parts = NULL;
    int n_parts = 0, cap_parts = 0, failed = 0;
    notice_t *notices = NULL;
    int n_notices = 0, cap_notices = 0;
    rd_kafka_message_t *messages[CHUNK];
    Py_BEGIN_ALLOW_THREADS
    double started = monotonic(), deadline = started + timeout, fill_deadline = started + fill;
    Py_ssize_t taken = 0;
    size_t bytes = 0;
    part_t *last = NULL;
    while (taken < max_records && bytes < MAX_CALL_BYTES && !failed) {
        size_t want = (size_t)(max_records - taken) < CHUNK ? (size_t)(max_records - taken) : CHUNK;
        long n = p_rd_kafka_consume_batch_queue(self->queue, 0, messages, want);
        if (n <= 0) {
            double now = monotonic(), until = taken == 0 && n_notices == 0 ? deadline : n_notices ? now : fill_deadline;
            if (now >= until) break;
            /* one message at a time while waiting: a batch call would wait for all `want` */
            n = p_rd_kafka_consume_batch_queue(self->queue, (int)((until - now) * 1000) + 1, messages, 1);
            if (n <= 0) break;
        }
        for (long i = 0; i < n; i++) {
            rd_kafka_message_t *m = messages[i];
            if (failed) {
            } else if (m->err) {
                if (n_notices == cap_notices) {
                    cap_notices = cap_notices ? cap_notices * 2 : 16;
                    notice_t *grown = realloc(notices, cap_notices * sizeof(notice_t));
                    if (!grown) { failed = 1; p_rd_kafka_message_destroy(m); continue; }
                    notices = grown;
                }
                const char *topic = m->rkt ? p_rd_kafka_topic_name(m->rkt) : "";
                char *text = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ? NULL
                             : m->payload ? strndup(m->payload, m->len) : strdup(p_rd_kafka_err2str(m->err));
                notices[n_notices++] = (notice_t){strdup(topic), m->partition, m->offset,
                                                  m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ? 0 : m->err, text};
            } else {
                if (!last || last->rkt != m->rkt || last->partition != m->partition) {
                    last = NULL;
                    for (int k = 0; k < n_parts; k++)
                        if (parts[k].rkt == m->rkt && parts[k].partition == m->partition) last = &parts[k];
                    if (!last) {
                        if (n_parts == cap_parts) {
                            cap_parts = cap_parts ? cap_parts * 2 : 8;
                            part_t *grown = cap_parts <= MAX_PARTS ? realloc(parts, cap_parts * sizeof(part_t)) : NULL;
                            if (!grown) { failed = 1; p_rd_kafka_message_destroy(m); continue; }
                            parts = grown;
                        }
                        last = &parts[n_parts];
                        if (part_init(last, m->rkt, p_rd_kafka_topic_name(m->rkt), m->partition)) failed = 1;
                        n_parts++;
                    }
                }
                if (!failed && part_append(last, m)) failed = 1;
                bytes += m->len + m->key_len;
                taken++;
            }
            p_rd_kafka_message_destroy(m);
        }
        if (n_notices) break; /* act on an EOF or error now: the records before it are in this call */
    }
    Py_END_ALLOW_THREADS
    PyObject *batches = PyList_New(0), *eofs = PyList_New(0), *errors = PyList_New(0), *result = NULL;
    if (failed) PyErr_NoMemory();
    for (int k = 0; k < n_parts; k++) {
        if (failed || !batches) { part_free(&parts[k]); continue; }
        Batch *batch = PyObject_New(Batch, &BatchType);
        PyObject *topic = PyUnicode_DecodeUTF8(parts[k].topic, strlen(parts[k].topic), "replace");
        int32_t partition = parts[k].partition;
        if (batch) batch->array = export_part(&parts[k]);
        else part_free(&parts[k]);
        PyObject *item = batch && batch->array && topic ? Py_BuildValue("(OiO)", topic, partition, batch) : NULL;
        if (batch && !batch->array) PyErr_NoMemory();
        Py_XDECREF(batch);
        Py_XDECREF(topic);
        if (!item || PyList_Append(batches, item)) failed = 1;
        Py_XDECREF(item);
    }
    for (int k = 0; k < n_notices; k++) {
        notice_t *e = &notices[k];
        if (!failed && eofs && errors) {
            PyObject *item = e->code == 0 ? Py_BuildValue("(siL)", e->topic, e->partition, (long long)e->offset)
                                          : Py_BuildValue("(issi)", e->code, e->text, e->topic, e->partition);
            if (!item || PyList_Append(e->code == 0 ? eofs : errors, item)) failed = 1;
            Py_XDECREF(item);
        }
        free(e->topic);
        free(e->text);
    }
    free(notices);
    free(parts);
    if (!failed && batches && eofs && errors) result = PyTuple_Pack(3, batches, eofs, errors);
    Py_XDECREF(batches);
    Py_XDECREF(eofs);
    Py_XDECREF(errors);
    return result;
}

/* events() -> ([(code, reason, fatal)], [(level, facility, line)]): what librdkafka reported since. */
static PyObject *Consumer_events(Consumer *self, PyObject *unused) {
    pthread_mutex_lock(&self->lock);
    event_t *e = self->events;
    int dropped = self->dropped_logs;
    self->events = self->events_tail = NULL;
    self->dropped_logs = self->pending_logs = 0;
    pthread_mutex_unlock(&self->lock);
    PyObject *errors = PyList_New(0), *logs = PyList_New(0);
    if (dropped && logs) {
        PyObject *item = Py_BuildValue("(iss)", 4, "EVKIT", "librdkafka log lines dropped");
        if (item) PyList_Append(logs, item);
        Py_XDECREF(item);
    }
    while (e) {
        event_t *next = e->next;
        if (errors && logs) {
            PyObject *item = e->kind == 0 ? Py_BuildValue("(isO)", e->code_or_level, e->text, e->fatal ? Py_True : Py_False)
                                          : Py_BuildValue("(iss)", e->code_or_level, e->facility ? e->facility : "", e->text);
            if (item) PyList_Append(e->kind == 0 ? errors : logs, item);
            Py_XDECREF(item);
        }
        free(e->facility);
        free(e->text);
        free(e);
        e = next;
    }
    PyObject *result = errors && logs ? PyTuple_Pack(2, errors, logs) : NULL;
    Py_XDECREF(errors);
    Py_XDECREF(logs);
    return result;
}

static PyObject *Consumer_name(Consumer *self, void *closure) {
    return self->rk ? PyUnicode_FromString(p_rd_kafka_name(self->rk)) : PyUnicode_FromString("closed");
}

static void consumer_destroy(Consumer *self) {
    if (!self->rk) return;
    rd_kafka_t *rk = self->rk;
    self->rk = NULL;
    Py_BEGIN_ALLOW_THREADS
    p_rd_kafka_queue_destroy(self->queue);
    p_rd_kafka_consumer_close(rk);
    p_rd_kafka_destroy(rk);
    Py_END_ALLOW_THREADS
}

static PyObject *Consumer_close(Consumer *self, PyObject *unused) {
    consumer_destroy(self);
    Py_RETURN_NONE;
}

static void Consumer_dealloc(Consumer *self) {
    consumer_destroy(self);
    Py_XDECREF(Consumer_events(self, NULL));
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Consumer_methods[] = {
    {"assign", (PyCFunction)Consumer_assign, METH_O, "assign([(topic, partition, offset)]): read these, from there"},
    {"seek", (PyCFunction)Consumer_seek, METH_VARARGS, "seek(topic, partition, offset)"},
    {"pause", (PyCFunction)Consumer_pause, METH_O, "pause([(topic, partition)])"},
    {"position", (PyCFunction)Consumer_position, METH_O, "position([(topic, partition)]) -> [offset] (-1001: unknown)"},
    {"consume", (PyCFunction)Consumer_consume, METH_VARARGS, "consume(max_records, timeout, fill) -> (batches, eofs, errors)"},
    {"events", (PyCFunction)Consumer_events, METH_NOARGS, "events() -> (errors, log lines) reported since the last call"},
    {"close", (PyCFunction)Consumer_close, METH_NOARGS, "leave (no group was joined, nothing is committed) and free"},
    {NULL},
};

static PyGetSetDef Consumer_getset[] = {
    {"name", (getter)Consumer_name, NULL, "librdkafka's name of this client", NULL},
    {NULL},
};

static PyTypeObject ConsumerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "evkit.cluster._native_reader.Consumer",
    .tp_basicsize = sizeof(Consumer),
    .tp_dealloc = (destructor)Consumer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Consumer(config: dict[str, str]): a librdkafka consumer that returns Arrow batches.",
    .tp_methods = Consumer_methods,
    .tp_getset = Consumer_getset,
    .tp_init = (initproc)Consumer_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"load", load, METH_VARARGS, "load(path): resolve librdkafka's functions in the shared library at path"},
    {NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native_reader", "evkit's native dump reader.", -1,
                                    module_methods};

PyMODINIT_FUNC PyInit__native_reader(void) {
    if (PyType_Ready(&BatchType) < 0 || PyType_Ready(&ConsumerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ConsumerType);
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(m, "Consumer", (PyObject *)&ConsumerType) || PyModule_AddObject(m, "Batch", (PyObject *)&BatchType)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
