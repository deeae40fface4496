/* Split a commit of trace records, serialised as JSON, into columns; in C, without the GIL.
 *
 * The trace writer's thread calls split(text) on each commit it takes. The text is
 * what fbp.tracing._payload.BatchEncoder writes: a JSON array with one array per
 * record, [ip_id, kind, port_id, activation, t_ns, [parents...], payload], the
 * payload left out when its port keeps none. split() returns the record count and
 * nine bytes objects, the columns of fbp.tracing._store (little-endian):
 *
 *   ip_id int64, kind int8, port_id int32, activation int64, t_ns int64,
 *   parent_ends int64 (end of each record's parents in parents), parents int64,
 *   payload_starts and payload_ends int64 (each record's payload in payloads: an
 *   empty slice when it was not kept), payloads (the payloads' JSON texts, verbatim;
 *   a text of 32 bytes or more met again in the commit, as a payload forwarded along
 *   a pipeline is, is stored once and its records share the slice).
 *
 * A record may also end with a reference, [..., [parents...], null, k]: it gets the
 * payload slice of the commit's record k, an earlier one. The encoder writes an
 * object sent on many hops (a model forwarded unchanged) in full once per commit, and
 * a reference to that record at every other hop.
 *
 * Optional: fbp.tracing._chunks does the same in Python when this is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "the columns are little-endian; the Python fallback serves big-endian machines"
#endif

typedef struct {
    const char *s;
    size_t i, n;
    const char *error;
} scan_t;

/* Payload texts this long or longer are stored once per commit (a payload forwarded
 * along a pipeline is the same text at every hop). They are keyed by a hash of their
 * first SHARE_MIN bytes, so that a text met again is found before it is scanned. */
#define SHARE_MIN 32

/* The columns being written: each allocated once, large enough for any text of the
 * input's length (a record takes at least 15 bytes of JSON, a parent 2). */
typedef struct {
    int64_t *id, *act, *t, *pend, *parents, *ystart, *yend;
    int8_t *kind;
    int32_t *port;
    char *payloads;
    size_t n, n_parents, payload_len;
    /* The texts stored, by hash: open addressing, a power of two of slots. */
    uint64_t *slot_hash;
    size_t *slot_off, *slot_len, slot_mask;
} cols_t;

static inline uint64_t
mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9E3779B97F4A7C15ULL;
    h = (h << 27) | (h >> 37);
    return h * 0xBF58476D1CE4E5B9ULL;
}

/* The key of a text of SHARE_MIN bytes or more: a hash of its first SHARE_MIN. */
static inline uint64_t
prefix_key(const char *p)
{
    uint64_t h = 0x243F6A8885A308D3ULL, w;
    for (size_t i = 0; i < SHARE_MIN; i += 8) {
        memcpy(&w, p + i, 8);
        h = mix(h, w);
    }
    return h | 1; /* 0 marks an empty slot */
}

/* A payload stored before that the text at p (n bytes left) starts with, followed
 * by the end of its record: then it is the same payload, found without scanning.
 * Returns the slot, or -1. */
static Py_ssize_t
find_payload(cols_t *c, const char *p, size_t n)
{
    if (n < SHARE_MIN)
        return -1;
    uint64_t h = prefix_key(p);
    for (size_t at = (size_t)h & c->slot_mask; c->slot_hash[at]; at = (at + 1) & c->slot_mask) {
        size_t len = c->slot_len[at];
        if (c->slot_hash[at] == h && len < n && memcmp(c->payloads + c->slot_off[at], p, len) == 0) {
            size_t j = len;
            while (j < n && (p[j] == ' ' || p[j] == '\n' || p[j] == '\r' || p[j] == '\t'))
                j++;
            if (j < n && p[j] == ']')
                return (Py_ssize_t)at;
        }
    }
    return -1;
}

/* Store a payload text (scanned, and not found before); its offset. */
static size_t
store_payload(cols_t *c, const char *p, size_t len)
{
    size_t off = c->payload_len;
    memcpy(c->payloads + off, p, len);
    c->payload_len += len;
    if (len >= SHARE_MIN) {
        uint64_t h = prefix_key(p);
        size_t at = (size_t)h & c->slot_mask;
        while (c->slot_hash[at])
            at = (at + 1) & c->slot_mask;
        c->slot_hash[at] = h;
        c->slot_off[at] = off;
        c->slot_len[at] = len;
    }
    return off;
}

static inline void
ws(scan_t *sc)
{
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return;
        sc->i++;
    }
}

static inline int
expect(scan_t *sc, char c, const char *what)
{
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == c) {
        sc->i++;
        return 0;
    }
    sc->error = what;
    return -1;
}

static inline int
read_int(scan_t *sc, int64_t *out)
{
    ws(sc);
    const char *s = sc->s;
    size_t i = sc->i, n = sc->n;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    size_t start = i;
    uint64_t v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (i - start >= 18 && v > (UINT64_MAX - d) / 10) {
            sc->i = i;
            sc->error = "an integer beyond 64 bits";
            return -1;
        }
        v = v * 10 + d;
        i++;
    }
    sc->i = i;
    if (i == start) {
        sc->error = "an integer expected";
        return -1;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) {
        sc->error = "an integer beyond 64 bits";
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Skip one JSON value; the text is valid JSON (the encoder wrote it). */
static int
skip_value(scan_t *sc)
{
    ws(sc);
    const char *s = sc->s;
    size_t i = sc->i, n = sc->n, depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            i++;
            int closed = 0;
            while (i < n) { /* to the closing quote: one not escaped by a backslash */
                const char *q = memchr(s + i, '"', n - i);
                if (q == NULL)
                    break;
                size_t at = (size_t)(q - s), slashes = 0;
                while (at - slashes > i && s[at - slashes - 1] == '\\')
                    slashes++;
                i = at + 1;
                if (slashes % 2 == 0) {
                    closed = 1;
                    break;
                }
            }
            if (!closed) {
                i = n;
                depth++; /* reported as an unterminated value */
                break;
            }
            if (depth == 0) {
                sc->i = i;
                return 0;
            }
            continue;
        }
        if (c == '[' || c == '{') {
            depth++;
        }
        else if (c == ']' || c == '}') {
            if (depth == 0)
                break; /* the end of the record: a scalar was before it */
            if (--depth == 0) {
                sc->i = i + 1;
                return 0;
            }
        }
        else if (depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
            break;
        }
        i++;
    }
    sc->i = i;
    if (depth == 0)
        return 0;
    sc->error = "an unterminated value";
    return -1;
}

/* At a payload "null": whether a reference follows ("null", a comma, an int); if so,
 * the scan moves to the int. */
static int
is_reference(scan_t *sc)
{
    size_t i = sc->i + 4;
    while (i < sc->n && (sc->s[i] == ' ' || sc->s[i] == '\n' || sc->s[i] == '\r' || sc->s[i] == '\t'))
        i++;
    if (i < sc->n && sc->s[i] == ',') {
        sc->i = i + 1;
        return 1;
    }
    return 0;
}

static Py_ssize_t
split_text(scan_t *sc, cols_t *c)
{
    if (expect(sc, '[', "'[' opening the records") < 0)
        return -1;
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == ']') {
        sc->i++;
        ws(sc);
        if (sc->i != sc->n) {
            sc->error = "text after the records";
            return -1;
        }
        return 0;
    }
    for (;;) {
        int64_t v[5];
        size_t k = c->n;
        if (expect(sc, '[', "'[' opening a record") < 0)
            return -1;
        for (int f = 0; f < 5; f++) {
            if (read_int(sc, &v[f]) < 0 || expect(sc, ',', "',' after a record field") < 0)
                return -1;
        }
        c->id[k] = v[0];
        c->kind[k] = (int8_t)v[1];
        c->port[k] = (int32_t)v[2];
        c->act[k] = v[3];
        c->t[k] = v[4];
        if (expect(sc, '[', "'[' opening the parents") < 0)
            return -1;
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ']') {
            sc->i++;
        }
        else {
            for (;;) {
                if (read_int(sc, &c->parents[c->n_parents]) < 0)
                    return -1;
                c->n_parents++;
                ws(sc);
                if (sc->i < sc->n && sc->s[sc->i] == ',') {
                    sc->i++;
                    continue;
                }
                if (expect(sc, ']', "']' closing the parents") < 0)
                    return -1;
                break;
            }
        }
        c->pend[k] = (int64_t)c->n_parents;
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ',') {
            sc->i++;
            ws(sc);
            if (sc->n - sc->i > 5 && memcmp(sc->s + sc->i, "null", 4) == 0 && is_reference(sc)) {
                int64_t j;
                if (read_int(sc, &j) < 0)
                    return -1;
                if (j < 0 || (uint64_t)j >= (uint64_t)k) {
                    sc->error = "a reference to a record not before it";
                    return -1;
                }
                c->ystart[k] = c->ystart[j];
                c->yend[k] = c->yend[j];
                goto record_end;
            }
            size_t start = sc->i;
            Py_ssize_t seen = find_payload(c, sc->s + start, sc->n - start);
            if (seen >= 0) {
                size_t len = c->slot_len[seen];
                c->ystart[k] = (int64_t)c->slot_off[seen];
                c->yend[k] = (int64_t)(c->slot_off[seen] + len);
                sc->i = start + len;
            }
            else {
                if (skip_value(sc) < 0)
                    return -1;
                size_t len = sc->i - start;
                if (len == 0) {
                    sc->error = "a payload expected";
                    return -1;
                }
                size_t off = store_payload(c, sc->s + start, len);
                c->ystart[k] = (int64_t)off;
                c->yend[k] = (int64_t)(off + len);
            }
        }
        else {
            c->ystart[k] = c->yend[k] = (int64_t)c->payload_len;
        }
    record_end:
        if (expect(sc, ']', "']' closing a record") < 0)
            return -1;
        c->n++;
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        if (expect(sc, ']', "']' closing the records") < 0)
            return -1;
        ws(sc);
        if (sc->i != sc->n) {
            sc->error = "text after the records";
            return -1;
        }
        return (Py_ssize_t)c->n;
    }
}

static PyObject *
split(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t len = (size_t)view.len;
    size_t max_records = len / 15 + 1, max_parents = len / 2 + 1;
    cols_t c;
    memset(&c, 0, sizeof c);
    /* The columns are written straight into the bytes objects returned, allocated for
     * the most the text can hold and shrunk at the end (copying them into new objects
     * took a few milliseconds a commit, holding the GIL). In split()'s column order:
     * id, kind, port, act, t, pend, parents, ystart, yend, payloads. */
    enum { C_ID, C_KIND, C_PORT, C_ACT, C_T, C_PEND, C_PARENTS, C_YSTART, C_YEND, C_PAYLOADS,
           N_COLS };
    size_t cap[N_COLS] = {max_records * 8, max_records, max_records * 4, max_records * 8,
                          max_records * 8, max_records * 8, max_parents * 8, max_records * 8,
                          max_records * 8, len + 1};
    PyObject *col[N_COLS] = {NULL};
    PyObject *result = NULL;
    for (int i = 0; i < N_COLS; i++) {
        col[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap[i]);
        if (col[i] == NULL)
            goto done;
    }
    c.id = (int64_t *)PyBytes_AS_STRING(col[C_ID]);
    c.kind = (int8_t *)PyBytes_AS_STRING(col[C_KIND]);
    c.port = (int32_t *)PyBytes_AS_STRING(col[C_PORT]);
    c.act = (int64_t *)PyBytes_AS_STRING(col[C_ACT]);
    c.t = (int64_t *)PyBytes_AS_STRING(col[C_T]);
    c.pend = (int64_t *)PyBytes_AS_STRING(col[C_PEND]);
    c.parents = (int64_t *)PyBytes_AS_STRING(col[C_PARENTS]);
    c.ystart = (int64_t *)PyBytes_AS_STRING(col[C_YSTART]);
    c.yend = (int64_t *)PyBytes_AS_STRING(col[C_YEND]);
    c.payloads = PyBytes_AS_STRING(col[C_PAYLOADS]);
    size_t slots = 64;
    while (slots < 2 * (len / SHARE_MIN + 1))
        slots *= 2;
    c.slot_mask = slots - 1;
    c.slot_hash = calloc(slots, sizeof(uint64_t));
    c.slot_off = malloc(slots * sizeof(size_t));
    c.slot_len = malloc(slots * sizeof(size_t));
    if (!c.slot_hash || !c.slot_off || !c.slot_len) {
        PyErr_NoMemory();
        goto done;
    }
    scan_t sc = {(const char *)view.buf, 0, len, NULL};
    Py_ssize_t n;
    /* Short texts are split faster than the GIL changes hands. */
    if (len >= 65536) {
        Py_BEGIN_ALLOW_THREADS
        n = split_text(&sc, &c);
        Py_END_ALLOW_THREADS
    }
    else {
        n = split_text(&sc, &c);
    }
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "not a batch of trace records at byte %zd: %s",
                     (Py_ssize_t)sc.i, sc.error);
        goto done;
    }
    size_t used[N_COLS] = {c.n * 8, c.n, c.n * 4, c.n * 8, c.n * 8, c.n * 8, c.n_parents * 8,
                           c.n * 8, c.n * 8, c.payload_len};
    for (int i = 0; i < N_COLS; i++) {
        if (_PyBytes_Resize(&col[i], (Py_ssize_t)used[i]) < 0)
            goto done;  /* col[i] is NULL now */
    }
    result = PyTuple_New(1 + N_COLS);
    if (result == NULL)
        goto done;
    PyObject *count = PyLong_FromSsize_t(n);
    if (count == NULL) {
        Py_CLEAR(result);
        goto done;
    }
    PyTuple_SET_ITEM(result, 0, count);
    for (int i = 0; i < N_COLS; i++) {
        PyTuple_SET_ITEM(result, 1 + i, col[i]);
        col[i] = NULL;  /* the tuple holds it */
    }
done:
    for (int i = 0; i < N_COLS; i++)
        Py_XDECREF(col[i]);
    free(c.slot_hash);
    free(c.slot_off);
    free(c.slot_len);
    PyBuffer_Release(&view);
    return result;
}

/* payloads_of(rows, carried, base, counts, count_of) -> (payloads, codes, hits, misses)
 *
 * fbp.tracing._payload.BatchEncoder's pass over a batch before orjson writes it (the
 * Python version there, _referring, makes the rows this describes): a record whose
 * payload, of a type orjson does not write itself, the commit carried before
 * (carried: id -> (object, k)) is written as a reference to the commit's record k,
 * (..., parents, null, k); the first time, the object is remembered with this
 * record's number (base + its position), and a plain pydantic model (counts or
 * count_of(type): its number of fields, or None) is written as its __dict__ when that
 * holds its fields alone. Returns the payloads to write, in order, and a code per
 * record (int64): k for a reference, CODE_PAYLOAD for the next payload, CODE_NO_PAYLOAD
 * for a record without one; rows_json() then writes the text. hits counts the
 * references, misses the first payloads left to pydantic-core. */
enum { CODE_PAYLOAD = -1, CODE_NO_PAYLOAD = -2 };

static PyObject *dict_name;

static inline int
orjson_writes(PyObject *p)
{
    PyTypeObject *tp = Py_TYPE(p);
    return tp == &PyLong_Type || tp == &PyFloat_Type || tp == &PyUnicode_Type ||
           tp == &PyBool_Type || p == Py_None || tp == &PyList_Type || tp == &PyDict_Type ||
           tp == &PyTuple_Type;
}

/* The payload to write the first time an object is met in a commit (a new reference),
 * or NULL with *miss set (the object itself is written), or NULL with an error. */
static PyObject *
first_time(PyObject *p, PyObject *counts, PyObject *count_of, int *miss)
{
    PyObject *tp = (PyObject *)Py_TYPE(p);
    PyObject *n = PyDict_GetItemWithError(counts, tp);
    if (n != NULL) {
        Py_INCREF(n);
    }
    else {
        if (PyErr_Occurred())
            return NULL;
        n = PyObject_CallOneArg(count_of, tp);
        if (n == NULL)
            return NULL;
    }
    *miss = 1;
    if (n == Py_None) {
        Py_DECREF(n);
        return NULL;
    }
    Py_ssize_t fields = PyLong_AsSsize_t(n);
    Py_DECREF(n);
    if (fields == -1 && PyErr_Occurred())
        return NULL;
    PyObject *d = PyObject_GetAttr(p, dict_name);
    if (d == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (PyDict_CheckExact(d) && PyDict_GET_SIZE(d) == fields) {
        *miss = 0;
        return d;
    }
    Py_DECREF(d);
    return NULL;
}

static PyObject *
payloads_of(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyDict_Check(args[1]) || !PyDict_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "payloads_of(rows, carried: dict, base: int, counts: dict, count_of)");
        return NULL;
    }
    PyObject *carried = args[1], *counts = args[3], *count_of = args[4];
    Py_ssize_t base = PyLong_AsSsize_t(args[2]);
    if (base == -1 && PyErr_Occurred())
        return NULL;
    PyObject *seq = PySequence_Fast(args[0], "payloads_of() needs a sequence of records");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), hits = 0, misses = 0;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *payloads = PyList_New(0);
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (payloads == NULL || codes == NULL)
        goto fail;
    int64_t *code = (int64_t *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = items[i];
        if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) <= 6) {
            code[i] = CODE_NO_PAYLOAD;
            continue;
        }
        PyObject *p = PyTuple_GET_ITEM(r, 6), *payload = NULL;
        code[i] = CODE_PAYLOAD;
        if (!orjson_writes(p)) {
            PyObject *key = PyLong_FromVoidPtr(p);
            if (key == NULL)
                goto fail;
            PyObject *hit = PyDict_GetItemWithError(carried, key);
            if (hit != NULL && PyTuple_CheckExact(hit) && PyTuple_GET_SIZE(hit) == 2) {
                Py_DECREF(key);
                int64_t k = PyLong_AsLongLong(PyTuple_GET_ITEM(hit, 1));
                if (k == -1 && PyErr_Occurred())
                    goto fail;
                hits++;
                code[i] = k;
                continue;
            }
            if (PyErr_Occurred()) {
                Py_DECREF(key);
                goto fail;
            }
            PyObject *k = PyLong_FromSsize_t(base + i);
            PyObject *entry = k ? PyTuple_Pack(2, p, k) : NULL;
            Py_XDECREF(k);
            int failed = entry == NULL || PyDict_SetItem(carried, key, entry) < 0;
            Py_XDECREF(entry);
            Py_DECREF(key);
            if (failed)
                goto fail;
            int miss = 0;
            payload = first_time(p, counts, count_of, &miss);
            if (payload == NULL && PyErr_Occurred())
                goto fail;
            misses += miss;
        }
        int failed = PyList_Append(payloads, payload != NULL ? payload : p) < 0;
        Py_XDECREF(payload);
        if (failed)
            goto fail;
    }
    Py_DECREF(seq);
    return Py_BuildValue("(NNnn)", payloads, codes, hits, misses);
fail:
    Py_XDECREF(payloads);
    Py_XDECREF(codes);
    Py_DECREF(seq);
    return NULL;
}

/* A growing output buffer. */
typedef struct {
    char *s;
    size_t n, cap;
} out_t;

static int
out_reserve(out_t *o, size_t more)
{
    if (o->n + more <= o->cap)
        return 0;
    size_t cap = o->cap * 2 > o->n + more ? o->cap * 2 : o->n + more + 4096;
    char *s = PyMem_Realloc(o->s, cap);
    if (s == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->s = s;
    o->cap = cap;
    return 0;
}

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* An int as JSON writes it; the buffer has room for 21 bytes. Two digits per step
 * (a clock in nanoseconds has 14 or more). */
static inline void
out_int(out_t *o, int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (v < 0)
        o->s[o->n++] = '-';
    int len = 1;
    for (uint64_t p = 10; len < 20 && u >= p; p *= 10)
        len++;
    char *end = o->s + o->n + len;
    o->n += (size_t)len;
    while (u >= 100) {
        const char *d = digit_pairs + (u % 100) * 2;
        u /= 100;
        *--end = d[1];
        *--end = d[0];
    }
    if (u >= 10) {
        const char *d = digit_pairs + u * 2;
        *--end = d[1];
        *--end = d[0];
    }
    else {
        *--end = (char)('0' + u);
    }
}

/* An exact int of 64 bits, or 0 (not one: the caller leaves the batch to orjson). */
static inline int
field_int(PyObject *v, int64_t *out)
{
    if (!PyLong_CheckExact(v))
        return 0;
#if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT <= 31
    /* The common sizes read from the digits (3.11's layout): ids, counts, clocks. */
    Py_ssize_t size = Py_SIZE(v);
    const digit *d = ((PyLongObject *)v)->ob_digit;
    if (size == 1 || size == 0) {
        *out = size ? (int64_t)d[0] : 0;
        return 1;
    }
    if (size == 2) {
        *out = (int64_t)d[0] | ((int64_t)d[1] << PyLong_SHIFT);
        return 1;
    }
#endif
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = (int64_t)x;
    return 1;
}

/* rows_json(rows, codes, payloads_text) -> bytes or None: the JSON text of a batch as
 * orjson writes the rows that BatchEncoder._referring makes (see payloads_of), from the
 * records, their codes and the JSON array of the payloads to write (orjson's, spliced
 * in verbatim). None when a record's fields are not the runtime's (an int of 64 bits
 * each, parents a tuple of them): the caller makes the rows then. */
static PyObject *
rows_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_Check(args[1]) || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "rows_json(rows, codes: bytes, payloads_text: bytes)");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "rows_json() needs a sequence of records");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if (PyBytes_GET_SIZE(args[1]) != n * (Py_ssize_t)sizeof(int64_t)) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "rows_json(): one code per record expected");
        return NULL;
    }
    const int64_t *code = (const int64_t *)PyBytes_AS_STRING(args[1]);
    scan_t sc = {PyBytes_AS_STRING(args[2]), 0, (size_t)PyBytes_GET_SIZE(args[2]), NULL};
    out_t o = {NULL, 0, 0};
    PyObject *result = NULL;
    int first_payload = 1;
    if (expect(&sc, '[', "'['") < 0 || out_reserve(&o, (size_t)n * 64 + sc.n + 2) < 0)
        goto done;
    o.s[o.n++] = '[';
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = items[i];
        if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) < 6 || PyTuple_GET_SIZE(r) > 7
            || !PyTuple_CheckExact(PyTuple_GET_ITEM(r, 5))) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        PyObject *parents = PyTuple_GET_ITEM(r, 5);
        Py_ssize_t np = PyTuple_GET_SIZE(parents);
        if (out_reserve(&o, (size_t)(np + 8) * 22 + 8) < 0)
            goto done;
        if (i)
            o.s[o.n++] = ',';
        o.s[o.n++] = '[';
        for (int f = 0; f < 5; f++) {
            int64_t v;
            if (!field_int(PyTuple_GET_ITEM(r, f), &v)) {
                result = Py_NewRef(Py_None);
                goto done;
            }
            out_int(&o, v);
            o.s[o.n++] = ',';
        }
        o.s[o.n++] = '[';
        for (Py_ssize_t j = 0; j < np; j++) {
            int64_t v;
            if (!field_int(PyTuple_GET_ITEM(parents, j), &v)) {
                result = Py_NewRef(Py_None);
                goto done;
            }
            if (j)
                o.s[o.n++] = ',';
            out_int(&o, v);
        }
        o.s[o.n++] = ']';
        int64_t c = code[i];
        if (c >= 0) {
            memcpy(o.s + o.n, ",null,", 6);
            o.n += 6;
            out_int(&o, c);
        }
        else if (c == CODE_PAYLOAD) {
            if (!first_payload && expect(&sc, ',', "','") < 0)
                goto done;
            first_payload = 0;
            ws(&sc);
            size_t at = sc.i;
            if (skip_value(&sc) < 0)
                goto done;
            size_t len = sc.i - at;
            if (len == 0) {
                sc.error = "a payload expected";
                goto done;
            }
            if (out_reserve(&o, len + 2) < 0)
                goto done;
            o.s[o.n++] = ',';
            memcpy(o.s + o.n, sc.s + at, len);
            o.n += len;
        }
        o.s[o.n++] = ']';
    }
    if (expect(&sc, ']', "']'") < 0 || out_reserve(&o, 1) < 0)
        goto done;
    o.s[o.n++] = ']';
    result = PyBytes_FromStringAndSize(o.s, (Py_ssize_t)o.n);
done:
    if (result == NULL && !PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "rows_json(): the payloads are not a JSON array of "
                     "one payload per record to write (%s at byte %zu)",
                     sc.error ? sc.error : "?", sc.i);
    PyMem_Free(o.s);
    Py_DECREF(seq);
    return result;
}

/* count(kind, port_id, activation, proc_of_port, records, activations, first, last,
 *       drops) -> bool
 *
 * fbp.tracing._summary.SummaryCounter's count of a chunk (its Python version there,
 * _count_python, says the same), from the chunk's kind (int8), port_id (int32) and
 * activation (int64) columns, into its arrays, updated in place: records (int64, 8 per
 * port: per (port, kind)), activations, first and last (int64 per process: the
 * activations that sent something, the first and the last of them; last starts at -1)
 * and drops (int64 per port). proc_of_port (int32 per port) gives each port's process.
 * False when the chunk breaks what the counts rest on (a port or kind out of range, a
 * process's activation going down); the arrays are then of no use. A chunk is counted
 * in well under a millisecond: the GIL is kept. */
static PyObject *
count(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError,
                        "count(kind, port_id, activation, proc_of_port, records, activations,"
                        " first, last, drops)");
        return NULL;
    }
    Py_buffer b[9];
    int got = 0, exact = 1;
    PyObject *result = NULL;
    for (; got < 9; got++) {
        if (PyObject_GetBuffer(args[got], &b[got], got >= 4 ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
            goto done;
    }
    Py_ssize_t n = b[0].len, n_ports = b[3].len / 4, n_procs = b[5].len / 8;
    if (b[1].len != 4 * n || b[2].len != 8 * n || b[3].len % 4 || b[4].len != 64 * n_ports
        || b[5].len % 8 || b[6].len != 8 * n_procs || b[7].len != 8 * n_procs
        || b[8].len != 8 * n_ports) {
        PyErr_SetString(PyExc_ValueError, "count(): columns or arrays of mismatched lengths");
        goto done;
    }
    const int8_t *kind = b[0].buf;
    const int32_t *port = b[1].buf, *proc_of_port = b[3].buf;
    const int64_t *act = b[2].buf;
    int64_t *records = b[4].buf, *activations = b[5].buf, *first = b[6].buf, *last = b[7].buf;
    int64_t *drops = b[8].buf;
    for (Py_ssize_t i = 0; i < n && exact; i++) {
        int k = kind[i];
        int32_t p = port[i];
        if (k < 0 || k > 7 || p < 0 || p >= n_ports) {
            exact = 0;
            break;
        }
        records[(Py_ssize_t)p * 8 + k]++;
        if (k <= 2) {  /* data, open, close: sent by the port's process */
            int32_t proc = proc_of_port[p];
            if (proc < 0 || proc >= n_procs) {
                exact = 0;
                break;
            }
            int64_t a = act[i];
            if (a != last[proc]) {
                if (a < last[proc]) {
                    exact = 0;
                    break;
                }
                if (last[proc] < 0)
                    first[proc] = a;
                last[proc] = a;
                activations[proc]++;
            }
        }
        else if (k == 4) {  /* a drop marker */
            drops[p]++;
        }
    }
    result = PyBool_FromLong(exact);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_O,
     "split(text) -> (n, ip_id, kind, port_id, activation, t_ns, parent_ends, parents,"
     " payload_starts, payload_ends, payloads): a commit of records as column bytes."},
    {"count", (PyCFunction)(void (*)(void))count, METH_FASTCALL,
     "count(kind, port_id, activation, proc_of_port, records, activations, first, last,"
     " drops) -> bool: a chunk's summary counts added in place (see"
     " fbp.tracing._summary.SummaryCounter)."},
    {"payloads_of", (PyCFunction)(void (*)(void))payloads_of, METH_FASTCALL,
     "payloads_of(rows, carried, base, counts, count_of) -> (payloads, codes, hits, misses):"
     " the payloads a batch writes, and per record a reference or what it writes (see"
     " fbp.tracing._payload.BatchEncoder)."},
    {"rows_json", (PyCFunction)(void (*)(void))rows_json, METH_FASTCALL,
     "rows_json(rows, codes, payloads_text) -> bytes or None: the batch's JSON text,"
     " the payloads' JSON spliced in (see fbp.tracing._payload.BatchEncoder)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fbp.tracing._split",
    "Trace records as columns, in C (optional; see fbp.tracing._chunks).", -1, methods,
};

PyMODINIT_FUNC
PyInit__split(void)
{
    dict_name = PyUnicode_InternFromString("__dict__");
    if (dict_name == NULL)
        return NULL;
    return PyModule_Create(&module);
}
