/* The passes of a trace reader over a run's columns that numpy would make in several
 * temporaries, in one pass each, in C and without the GIL (see fbp.tracing._columns).
 *
 *   join(data, starts, ends) -> (bytes, bool)
 *       A run's payloads are JSON texts, one after the other in one bytes object;
 *       record i's text is data[starts[i]:ends[i]] (an empty slice: not recorded).
 *       The JSON array of the texts (null for an empty one), and whether it holds an
 *       integer of 19 digits or more (beyond 64 bits: not every JSON reader keeps it).
 *
 *   numbers(data, starts, ends, out) -> bool
 *       Every payload text as a float, into out (float64, one per text): NaN where a
 *       text is empty (not recorded) or null. False, with out partly written, as soon
 *       as one is anything but a JSON number or null (the caller then decodes them
 *       the general way). Converted as float() would (correctly rounded): exactly in
 *       80-bit arithmetic when the digits and the exponent are small enough (almost
 *       always), else by Python's own conversion.
 *
 *   data_links(ip_id, parent_ends, parents, is_data, keep, child, parent) -> int
 *       The links both ends of which are data IPs: record i's parents are
 *       parents[parent_ends[i-1]:parent_ends[i]]; a link counts when is_data (a bool
 *       per IP id) holds for the record's IP and the parent, and keep (a bool per
 *       record, or None) for the record. Writes them into child and parent (int64
 *       arrays) when given, and returns how many there are.
 *
 *   group(kind, port_id, wanted, counts, rows) -> None
 *       The records of kind `wanted`, grouped by port (a counting sort): counts (int64,
 *       one per port id) gets each port's number of them, rows (int32 or int64, one
 *       per record of the kind) their positions, port by port, in write order.
 *
 * Optional: fbp.tracing._columns does the same with numpy when this is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* A C-contiguous buffer of n items of itemsize bytes (n is set). */
static int
get_array(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what,
          Py_ssize_t *n)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_ValueError, "%s must be an array of %zd-byte items", what, itemsize);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    *n = view->len / itemsize;
    return 0;
}

/* The buffers of one call: the texts, and the starts and ends of n of them. */
typedef struct {
    Py_buffer data, starts, ends;
    Py_ssize_t n;
} slices_t;

static void
slices_release(slices_t *sl)
{
    if (sl->data.obj) PyBuffer_Release(&sl->data);
    if (sl->starts.obj) PyBuffer_Release(&sl->starts);
    if (sl->ends.obj) PyBuffer_Release(&sl->ends);
}

/* Take the buffers; check that starts and ends are int64 arrays of one length, every
 * slice inside data. */
static int
slices_get(slices_t *sl, PyObject *data, PyObject *starts, PyObject *ends)
{
    memset(sl, 0, sizeof(*sl));
    if (PyObject_GetBuffer(data, &sl->data, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(starts, &sl->starts, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0 ||
        PyObject_GetBuffer(ends, &sl->ends, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        slices_release(sl);
        return -1;
    }
    if (sl->starts.itemsize != 8 || sl->ends.itemsize != 8 ||
        sl->starts.len != sl->ends.len) {
        PyErr_SetString(PyExc_ValueError, "starts and ends must be int64 arrays of one length");
        slices_release(sl);
        return -1;
    }
    sl->n = sl->starts.len / 8;
    const int64_t *s = (const int64_t *)sl->starts.buf, *e = (const int64_t *)sl->ends.buf;
    for (Py_ssize_t i = 0; i < sl->n; i++) {
        if (e[i] <= s[i]) continue; /* an empty slice: not recorded, never read */
        if (s[i] < 0 || e[i] > (int64_t)sl->data.len) {
            PyErr_Format(PyExc_ValueError, "payload slice %zd [%lld:%lld] outside the data", i,
                         (long long)s[i], (long long)e[i]);
            slices_release(sl);
            return -1;
        }
    }
    return 0;
}

/* Number texts longer than this are converted through a Python float. */
#define NUMBER_MAX 63

/* Integers of this many digits or more do not fit 64 bits. */
#define LONG_DIGITS 19

static PyObject *
join(PyObject *self, PyObject *args)
{
    PyObject *data, *starts, *ends;
    if (!PyArg_ParseTuple(args, "OOO:join", &data, &starts, &ends)) return NULL;
    slices_t sl;
    if (slices_get(&sl, data, starts, ends) < 0) return NULL;
    const char *text = (const char *)sl.data.buf;
    const int64_t *s = (const int64_t *)sl.starts.buf, *e = (const int64_t *)sl.ends.buf;
    Py_ssize_t total = 2;
    for (Py_ssize_t i = 0; i < sl.n; i++) {
        total += (e[i] > s[i] ? (Py_ssize_t)(e[i] - s[i]) : 4) + (i ? 1 : 0);
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (!result) {
        slices_release(&sl);
        return NULL;
    }
    char *w = PyBytes_AS_STRING(result);
    int long_number = 0;
    Py_BEGIN_ALLOW_THREADS
    char *p = w;
    *p++ = '[';
    for (Py_ssize_t i = 0; i < sl.n; i++) {
        if (i) *p++ = ',';
        if (e[i] > s[i]) {
            size_t len = (size_t)(e[i] - s[i]);
            memcpy(p, text + s[i], len);
            p += len;
        } else {
            memcpy(p, "null", 4);
            p += 4;
        }
    }
    *p++ = ']';
    /* A run of LONG_DIGITS digits or more not after a decimal point. */
    Py_ssize_t run = 0;
    int counted = 0;
    for (Py_ssize_t k = 1; k < total && !long_number; k++) {
        char c = w[k];
        if (c >= '0' && c <= '9') {
            if (run == 0) counted = w[k - 1] != '.';
            if (++run >= LONG_DIGITS && counted) long_number = 1;
        } else {
            run = 0;
        }
    }
    Py_END_ALLOW_THREADS
    slices_release(&sl);
    return Py_BuildValue("(NO)", result, long_number ? Py_True : Py_False);
}

/* The exact conversion needs x87 80-bit long doubles (64-bit significands). */
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
#define EXACT_80 1
static const long double POW10[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L,
};
#else
#define EXACT_80 0
#endif

/* A JSON number's text t[0:n] as a double; 0 on success, -1 if it is no JSON number.
 * Digits of up to 19 significant figures and a decimal exponent of at most 27 are
 * converted exactly in long double (10^27 and the digits are exact there; the one
 * rounding of the product or quotient to 64 bits, then to 53, is exact unless the
 * first lands on a halfway point of the second, which is checked); anything else by
 * PyOS_string_to_double. */
static int
json_number(const char *t, Py_ssize_t n, double *out)
{
    Py_ssize_t i = 0;
    int neg = 0, is_int = 1;
    if (i < n && t[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= n) return -1;
    uint64_t m = 0;
    int digits = 0, exp10 = 0, many = 0;
    if (t[i] == '0') {
        i++;
    } else if (t[i] >= '1' && t[i] <= '9') {
        while (i < n && t[i] >= '0' && t[i] <= '9') {
            if (digits < 19) {
                m = m * 10 + (uint64_t)(t[i] - '0');
                digits++;
            } else {
                many = 1;
            }
            i++;
        }
    } else {
        return -1;
    }
    if (i < n && t[i] == '.') {
        is_int = 0;
        i++;
        Py_ssize_t d = i;
        while (i < n && t[i] >= '0' && t[i] <= '9') {
            if (m == 0 && t[i] == '0') {
                exp10--; /* a leading zero of the fraction */
            } else if (digits < 19) {
                m = m * 10 + (uint64_t)(t[i] - '0');
                digits++;
                exp10--;
            } else {
                many = 1;
            }
            i++;
        }
        if (i == d) return -1;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        is_int = 0;
        i++;
        int eneg = 0;
        if (i < n && (t[i] == '+' || t[i] == '-')) eneg = t[i++] == '-';
        Py_ssize_t d = i;
        int e = 0;
        while (i < n && t[i] >= '0' && t[i] <= '9') {
            if (e < 100000) e = e * 10 + (t[i] - '0');
            i++;
        }
        if (i == d) return -1;
        exp10 += eneg ? -e : e;
    }
    if (i != n) return -1;
    if (m == 0 && !many) {
        /* JSON's -0 is the integer 0; -0.0 keeps its sign, as float() does */
        *out = (neg && !is_int) ? -0.0 : 0.0;
        return 0;
    }
#if EXACT_80
    if (!many && exp10 >= -27 && exp10 <= 27) {
        long double x = (long double)m;
        x = exp10 >= 0 ? x * POW10[exp10] : x / POW10[-exp10];
        union {
            long double ld;
            struct {
                uint64_t mant;
                uint16_t sexp;
            } b;
        } u;
        u.ld = x;
        if ((u.b.mant & 0x7FF) != 0x400) { /* not halfway between two doubles */
            double v = (double)x;
            *out = neg ? -v : v;
            return 0;
        }
    }
#endif
    char buf[NUMBER_MAX + 1];
    if (n > NUMBER_MAX) {
        /* a long text: through a Python float */
        PyObject *text = PyBytes_FromStringAndSize(t, n);
        if (!text) return -2;
        PyObject *f = PyFloat_FromString(text);
        Py_DECREF(text);
        if (!f) return -2;
        *out = PyFloat_AS_DOUBLE(f);
        Py_DECREF(f);
        return 0;
    }
    memcpy(buf, t, (size_t)n);
    buf[n] = '\0';
    char *end = NULL;
    double v = PyOS_string_to_double(buf, &end, NULL);
    if (v == -1.0 && PyErr_Occurred()) return -2;
    *out = v;
    return 0;
}

static PyObject *
numbers(PyObject *self, PyObject *args)
{
    PyObject *data, *starts, *ends, *out_obj;
    if (!PyArg_ParseTuple(args, "OOOO:numbers", &data, &starts, &ends, &out_obj)) return NULL;
    slices_t sl;
    if (slices_get(&sl, data, starts, ends) < 0) return NULL;
    Py_buffer out = {0};
    Py_ssize_t n_out;
    if (get_array(out_obj, &out, 8, 1, "out", &n_out) < 0) {
        slices_release(&sl);
        return NULL;
    }
    PyObject *result = NULL;
    if (n_out != sl.n) {
        PyErr_SetString(PyExc_ValueError, "numbers: out must be as long as starts");
        goto done;
    }
    const char *text = (const char *)sl.data.buf;
    const int64_t *s = (const int64_t *)sl.starts.buf, *e = (const int64_t *)sl.ends.buf;
    double *o = (double *)out.buf;
    int ok = 1;
    for (Py_ssize_t i = 0; i < sl.n; i++) {
        Py_ssize_t len = e[i] > s[i] ? (Py_ssize_t)(e[i] - s[i]) : 0;
        const char *t = text + s[i];
        if (len == 0 || (len == 4 && memcmp(t, "null", 4) == 0)) {
            o[i] = NAN;
            continue;
        }
        int r = json_number(t, len, &o[i]);
        if (r == -2) goto done; /* a Python error */
        if (r < 0) {
            ok = 0;
            break;
        }
    }
    result = PyBool_FromLong(ok);
done:
    PyBuffer_Release(&out);
    slices_release(&sl);
    return result;
}

static PyObject *
data_links(PyObject *self, PyObject *args)
{
    PyObject *ip_obj, *ends_obj, *par_obj, *isd_obj, *keep_obj, *child_obj, *parent_obj;
    if (!PyArg_ParseTuple(args, "OOOOOOO:data_links", &ip_obj, &ends_obj, &par_obj, &isd_obj,
                          &keep_obj, &child_obj, &parent_obj))
        return NULL;
    Py_buffer ip = {0}, ends = {0}, par = {0}, isd = {0}, keep = {0}, child = {0}, parent = {0};
    Py_ssize_t n, n_ends, m, size, n_keep = 0, cap = 0, cap2 = 0;
    PyObject *result = NULL;
    if (get_array(ip_obj, &ip, 8, 0, "ip_id", &n) < 0 ||
        get_array(ends_obj, &ends, 8, 0, "parent_ends", &n_ends) < 0 ||
        get_array(par_obj, &par, 8, 0, "parents", &m) < 0 ||
        get_array(isd_obj, &isd, 1, 0, "is_data", &size) < 0 ||
        (keep_obj != Py_None && get_array(keep_obj, &keep, 1, 0, "keep", &n_keep) < 0) ||
        (child_obj != Py_None && get_array(child_obj, &child, 8, 1, "child", &cap) < 0) ||
        (parent_obj != Py_None && get_array(parent_obj, &parent, 8, 1, "parent", &cap2) < 0))
        goto done;
    if (n_ends != n || (keep.obj && n_keep != n) || (child.obj == NULL) != (parent.obj == NULL)
        || cap != cap2) {
        PyErr_SetString(PyExc_ValueError, "data_links: arrays of mismatched lengths");
        goto done;
    }
    const int64_t *ids = ip.buf, *pe = ends.buf, *ps = par.buf;
    const uint8_t *is_data = isd.buf, *kp = keep.obj ? keep.buf : NULL;
    int64_t *co = child.obj ? child.buf : NULL, *po = parent.obj ? parent.buf : NULL;
    Py_ssize_t count = 0;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t start = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t end = pe[i];
        if (end < start || end > m) {
            bad = 1;
            break;
        }
        int64_t c = ids[i];
        if ((kp == NULL || kp[i]) && c >= 0 && c < size && is_data[c]) {
            for (int64_t j = start; j < end; j++) {
                int64_t p = ps[j];
                if (p >= 0 && p < size && is_data[p]) {
                    if (co) {
                        if (count >= cap) {
                            bad = 2;
                            break;
                        }
                        co[count] = c;
                        po[count] = p;
                    }
                    count++;
                }
            }
            if (bad) break;
        }
        start = end;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, bad == 1 ? "data_links: parent_ends out of order"
                                                   : "data_links: child and parent too short");
        goto done;
    }
    result = PyLong_FromSsize_t(count);
done:
    if (ip.obj) PyBuffer_Release(&ip);
    if (ends.obj) PyBuffer_Release(&ends);
    if (par.obj) PyBuffer_Release(&par);
    if (isd.obj) PyBuffer_Release(&isd);
    if (keep.obj) PyBuffer_Release(&keep);
    if (child.obj) PyBuffer_Release(&child);
    if (parent.obj) PyBuffer_Release(&parent);
    return result;
}

static PyObject *
group(PyObject *self, PyObject *args)
{
    PyObject *kind_obj, *port_obj, *counts_obj, *rows_obj;
    int wanted;
    if (!PyArg_ParseTuple(args, "OOiOO:group", &kind_obj, &port_obj, &wanted, &counts_obj,
                          &rows_obj))
        return NULL;
    Py_buffer kind = {0}, port = {0}, counts = {0}, rows = {0};
    Py_ssize_t n, n_port, n_ports, k = 0;
    PyObject *result = NULL;
    if (get_array(kind_obj, &kind, 1, 0, "kind", &n) < 0 ||
        get_array(port_obj, &port, 4, 0, "port_id", &n_port) < 0 ||
        get_array(counts_obj, &counts, 8, 1, "counts", &n_ports) < 0)
        goto done;
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        goto done;
    if (rows.itemsize != 4 && rows.itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "group: rows must be an int32 or int64 array");
        goto done;
    }
    k = rows.len / rows.itemsize;
    if (n_port != n || (rows.itemsize == 4 && n > INT32_MAX)) {
        PyErr_SetString(PyExc_ValueError, "group: arrays of mismatched lengths");
        goto done;
    }
    const int8_t *kd = kind.buf;
    const int32_t *pt = port.buf;
    int64_t *cnt = counts.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    memset(cnt, 0, (size_t)n_ports * sizeof(int64_t));
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kd[i] != wanted) continue;
        int32_t p = pt[i];
        if (p < 0 || p >= n_ports) {
            bad = 1;
            break;
        }
        cnt[p]++;
        total++;
    }
    if (!bad && total != k) bad = 2;
    if (!bad) {
        /* counts become each port's next position, then are restored */
        int64_t at = 0;
        for (Py_ssize_t p = 0; p < n_ports; p++) {
            int64_t c = cnt[p];
            cnt[p] = at;
            at += c;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (kd[i] != wanted) continue;
            int64_t pos = cnt[pt[i]]++;
            if (rows.itemsize == 4)
                ((int32_t *)rows.buf)[pos] = (int32_t)i;
            else
                ((int64_t *)rows.buf)[pos] = (int64_t)i;
        }
        int64_t prev = 0;
        for (Py_ssize_t p = 0; p < n_ports; p++) {
            int64_t e = cnt[p];
            cnt[p] = e - prev;
            prev = e;
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, bad == 1 ? "group: a port id outside counts"
                                                   : "group: rows is not one per record of the kind");
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    if (kind.obj) PyBuffer_Release(&kind);
    if (port.obj) PyBuffer_Release(&port);
    if (counts.obj) PyBuffer_Release(&counts);
    if (rows.obj) PyBuffer_Release(&rows);
    return result;
}

static PyMethodDef methods[] = {
    {"join", join, METH_VARARGS,
     "join(data, starts, ends) -> (bytes, bool): the JSON array of the payload texts (null"
     " for an empty one), and whether it holds an integer of 19 digits or more."},
    {"numbers", numbers, METH_VARARGS,
     "numbers(data, starts, ends, out) -> bool: every payload text as a float into out (NaN"
     " where empty or null); False if one is not a JSON number or null."},
    {"data_links", data_links, METH_VARARGS,
     "data_links(ip_id, parent_ends, parents, is_data, keep, child, parent) -> int: the links"
     " between data IPs, written into child and parent when given; their number."},
    {"group", group, METH_VARARGS,
     "group(kind, port_id, wanted, counts, rows) -> None: the positions of the records of"
     " kind wanted, grouped by port, into rows; each port's count into counts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fbp.tracing._scan",
    "A trace reader's passes over a run's columns, in C (optional; see fbp.tracing._columns).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModule_Create(&module);
}
