/* The port operations' common cases, in C, with no coroutine.
 *
 * `async for x in port` and `await port.send(y)` written in Python make and run one
 * coroutine per IP. Here the common case (an item buffered, room in the one channel)
 * is done in a C function that returns an awaitable which is done at once: `await`
 * takes its value without creating a coroutine, a frame or a StopIteration. Every
 * other case (waiting, brackets, several receivers, validation that must convert,
 * closed ports) calls the Python method it replaces, which stays the reference.
 *
 * Traced ports (channels of records) have their own two: a receive of a data record and
 * a send that fbp._core._accel's put() records and delivers. A send returns an awaitable
 * that remembers its port: one dropped without being awaited is reported (see
 * fbp._core._unawaited.forgotten), as Python reports a coroutine never awaited.
 *
 * Optional: fbp._core._fast installs these methods when this module is built and
 * FBP_NO_ACCEL is not set. The objects touched are the runtime's own slotted classes,
 * whose slots are read by the offsets of their member descriptors (given once to
 * configure()), after checking each object's class.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "_slots.h"

enum {
    IN_CHAN, IN_LAST, OUT_CHAN, OUT_SENT_FAST, OUT_VALIDATOR, CHAN_BUF, CHAN_ROOM,
    CHAN_RECV_SIGNAL, CHAN_SEND_WAITERS, VALIDATOR_PLAIN, ARR_ELEMENTS, ARR_NEXT,
    OUT_CHANS, OUT_CLOSED, OUT_SENT_SLOW, CHAN_ACCEPTED, CHAN_OPEN_SENDERS, CHAN_CAPACITY,
    CHAN_DROP_OLDEST, OUT_PROC, OUT_LOOP, N_SLOTS
};

static Py_ssize_t offsets[N_SLOTS];
static int configured = 0;
static int use_waits = 1;  /* wait in C (else the Python methods wait) */
static PyTypeObject *in_port_type, *out_port_type, *channel_type, *ip_type, *validator_type;
static PyTypeObject *array_in_type, *deque_type, *checked_out_type;
/* deque's popleft, append and appendleft: their C functions (see method_function). */
static PyCFunction popleft_fn, append_fn, appendleft_fn;
static PyObject *str_wake, *str_admit, *str_anext_py, *str_send_py, *str_parents, *one;

static inline PyObject *
slot(PyObject *obj, int which)
{
    return *(PyObject **)((char *)obj + offsets[which]);
}

static inline void
set_slot(PyObject *obj, int which, PyObject *value)
{
    PyObject **p = (PyObject **)((char *)obj + offsets[which]);
    Py_XSETREF(*p, Py_NewRef(value));
}

/* -- Ready: an awaitable done at once ----------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *value;  /* what the await gives; NULL once taken */
    PyObject *port;   /* a send's port: reported if the send is never awaited */
} ReadyObject;

static PyTypeObject Ready_Type;
static ReadyObject *spare = NULL;        /* reused when nothing else holds it */
static ReadyObject *send_spare = NULL;   /* the same, for sends */
static PyObject *unawaited_hook = NULL;  /* fbp._core._unawaited.forgotten */

/* A send made and dropped without being awaited: the IP went out, but the component
 * has a bug (it would not wait for room in the channel): report it as Python reports a
 * coroutine never awaited, through fbp._core._unawaited.forgotten(port). Keeps any
 * exception set. */
static void
report_unawaited(PyObject *port)
{
    if (unawaited_hook == NULL || port == NULL)
        return;
    PyObject *etype, *evalue, *etb;
    PyErr_Fetch(&etype, &evalue, &etb);
    PyObject *res = PyObject_CallOneArg(unawaited_hook, port);
    if (res == NULL)
        PyErr_WriteUnraisable(unawaited_hook);
    Py_XDECREF(res);
    PyErr_Restore(etype, evalue, etb);
}

/* What a send that is done returns: awaiting it gives None. */
static PyObject *
send_done(PyObject *port)
{
    ReadyObject *r;
    if (send_spare != NULL && Py_REFCNT(send_spare) == 1) {
        PyObject *was = send_spare->port;
        send_spare->port = NULL;
        if (send_spare->value != NULL) {  /* made and never awaited */
            Py_CLEAR(send_spare->value);
            report_unawaited(was);
        }
        Py_XDECREF(was);
        r = (ReadyObject *)Py_NewRef(send_spare);
    }
    else {
        r = PyObject_New(ReadyObject, &Ready_Type);
        if (r == NULL)
            return NULL;
        if (send_spare == NULL)
            send_spare = (ReadyObject *)Py_NewRef(r);
    }
    r->value = Py_NewRef(Py_None);
    r->port = Py_NewRef(port);
    return (PyObject *)r;
}

static PyObject *
ready_new(PyObject *value)
{
    ReadyObject *r;
    if (spare != NULL && Py_REFCNT(spare) == 1) {
        Py_CLEAR(spare->value);  /* made and never awaited */
        r = (ReadyObject *)Py_NewRef(spare);
    }
    else {
        r = PyObject_New(ReadyObject, &Ready_Type);
        if (r == NULL)
            return NULL;
        r->port = NULL;
        if (spare == NULL)
            spare = (ReadyObject *)Py_NewRef(r);
    }
    r->value = Py_NewRef(value);
    return (PyObject *)r;
}

static void
ready_dealloc(ReadyObject *r)
{
    if (r->port != NULL && r->value != NULL)  /* a send never awaited */
        report_unawaited(r->port);
    Py_CLEAR(r->value);
    Py_CLEAR(r->port);
    PyObject_Free(r);
}

static PyObject *
ready_await(PyObject *self)
{
    return Py_NewRef(self);
}

static PySendResult
ready_send(PyObject *self, PyObject *arg, PyObject **result)
{
    ReadyObject *r = (ReadyObject *)self;
    if (r->value == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse an already awaited port operation");
        *result = NULL;
        return PYGEN_ERROR;
    }
    *result = r->value;  /* the reference moves to the caller */
    r->value = NULL;
    return PYGEN_RETURN;
}

static PyObject *
stop_with(PyObject *value)
{
    PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, value);
    Py_DECREF(value);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_StopIteration, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *
ready_next(PyObject *self)
{
    PyObject *value;
    if (ready_send(self, Py_None, &value) == PYGEN_ERROR)
        return NULL;
    return stop_with(value);
}

static PyObject *
ready_send_method(PyObject *self, PyObject *arg)
{
    return ready_next(self);
}

static PyObject *
ready_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "throw expected at least 1 argument");
        return NULL;
    }
    PyObject *typ = args[0];
    if (PyExceptionInstance_Check(typ)) {
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    }
    else if (nargs > 1 && args[1] != Py_None) {
        PyErr_SetObject(typ, args[1]);
    }
    else {
        PyErr_SetNone(typ);
    }
    return NULL;
}

static PyObject *
ready_close(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyMethodDef ready_methods[] = {
    {"send", ready_send_method, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))ready_throw, METH_FASTCALL, NULL},
    {"close", ready_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods ready_async = {
    .am_await = ready_await,
    .am_send = ready_send,
};

static PyTypeObject Ready_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fbp._core._fastports.Ready",
    .tp_basicsize = sizeof(ReadyObject),
    .tp_dealloc = (destructor)ready_dealloc,
    .tp_as_async = &ready_async,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A port operation that is already done: awaiting it gives its value.",
    .tp_iter = ready_await,
    .tp_iternext = ready_next,
    .tp_methods = ready_methods,
};

/* -- Wait: a port operation that waits on a channel ---------------------------------- */

/* What `await` runs when a receive finds nothing buffered or a send finds the channel
 * full: the channel's own Python methods queue the party and make the future
 * (Channel._enqueue_receive / _enqueue_send); this object yields that future to the
 * task (or the fused scheduler), and once it is done ends the wait (_end_receive) and,
 * for a receive, takes the item. What it cannot finish (a bracket, the end of the
 * stream, a rendezvous) it hands to InPort._wait_next, whose coroutine it then runs as
 * `yield from` would. A throw (cancellation) undoes the wait as the Python methods do. */

enum { WAIT_RECV, WAIT_SEND };

typedef struct {
    PyObject_HEAD
    int kind;
    int yielded;      /* the future was given to the task; resume means it is done */
    PyObject *port;   /* InPort (receive) or OutPort (send) */
    PyObject *ch;
    PyObject *fut;
    PyObject *entry;  /* send: the (fut, item, waiter) queued on the channel */
    PyObject *waiter; /* send: the waiting party */
    PyObject *sub;    /* receive: InPort._wait_next's coroutine, once handed over */
} WaitObject;

static PyTypeObject Wait_Type;
static PyObject *str_enqueue_receive, *str_end_receive, *str_enqueue_send, *str_cancel_send;
static PyObject *str_blocking, *str_result, *str_done, *str_wait_next, *str_throw, *str_close;
static PyObject *str_waiter;

/* The object fields of a GC type, listed by offset (ending with -1), visited and
 * cleared in one place for every such type here. */
static int
traverse_fields(PyObject *o, const Py_ssize_t *fields, visitproc visit, void *arg)
{
    for (; *fields >= 0; fields++)
        Py_VISIT(*(PyObject **)((char *)o + *fields));
    return 0;
}

static void
clear_fields(PyObject *o, const Py_ssize_t *fields)
{
    for (; *fields >= 0; fields++)
        Py_CLEAR(*(PyObject **)((char *)o + *fields));
}

static const Py_ssize_t wait_fields[] = {
    offsetof(WaitObject, port), offsetof(WaitObject, ch), offsetof(WaitObject, fut),
    offsetof(WaitObject, entry), offsetof(WaitObject, waiter), offsetof(WaitObject, sub), -1};

static int
wait_traverse(PyObject *w, visitproc visit, void *arg)
{
    return traverse_fields(w, wait_fields, visit, arg);
}

static int
wait_clear(PyObject *w)
{
    clear_fields(w, wait_fields);
    return 0;
}

static void
wait_dealloc(WaitObject *w)
{
    PyObject_GC_UnTrack(w);
    if (w->kind == WAIT_SEND && !w->yielded && w->fut != NULL)  /* never awaited */
        report_unawaited(w->port);
    wait_clear((PyObject *)w);
    PyObject_GC_Del(w);
}

static PyObject *take(PyObject *ch, PyObject *buf);
static PyObject *enqueue_send_here(PyObject *ch, PyObject *item, PyObject *w);
static PyObject *data_head(PyObject *ch, PyObject **buf_out);

/* Queue a receiver on its channel; a new Wait (or NULL). */
static PyObject *
wait_receive(PyObject *port, PyObject *ch)
{
    PyObject *fut = PyObject_CallMethodNoArgs(ch, str_enqueue_receive);
    if (fut == NULL)
        return NULL;
    WaitObject *w = PyObject_GC_New(WaitObject, &Wait_Type);
    if (w == NULL) {
        Py_DECREF(fut);
        return NULL;
    }
    w->kind = WAIT_RECV;
    w->yielded = 0;
    w->port = Py_NewRef(port);
    w->ch = Py_NewRef(ch);
    w->fut = fut;
    w->entry = NULL;
    w->waiter = NULL;
    w->sub = NULL;
    PyObject_GC_Track(w);
    return (PyObject *)w;
}

/* Queue a sender and its item on a full channel; a new Wait (or NULL). */
static PyObject *
wait_send(PyObject *port, PyObject *ch, PyObject *value, PyObject *waiter)
{
    PyObject *pair = enqueue_send_here(ch, value, waiter);
    if (pair == NULL) {
        if (PyErr_Occurred())
            return NULL;
        PyObject *args[3] = {ch, value, waiter};
        pair = PyObject_VectorcallMethod(str_enqueue_send, args, 3, NULL);
        if (pair == NULL)
            return NULL;
    }
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "Channel._enqueue_send() must return (fut, entry)");
        return NULL;
    }
    WaitObject *w = PyObject_GC_New(WaitObject, &Wait_Type);
    if (w == NULL) {
        Py_DECREF(pair);
        return NULL;
    }
    w->kind = WAIT_SEND;
    w->yielded = 0;
    w->port = Py_NewRef(port);
    w->ch = Py_NewRef(ch);
    w->fut = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
    w->entry = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
    w->waiter = Py_NewRef(waiter);
    w->sub = NULL;
    Py_DECREF(pair);
    PyObject_GC_Track(w);
    return (PyObject *)w;
}

/* End a wait that did not finish (a throw or close): as the Python methods' except and
 * finally clauses do. Keeps any exception set. */
static void
wait_undo(WaitObject *w)
{
    if (w->fut == NULL)
        return;
    PyObject *etype, *evalue, *etb;
    PyErr_Fetch(&etype, &evalue, &etb);
    PyObject *res;
    if (w->kind == WAIT_SEND) {
        PyObject *args[4] = {w->ch, w->fut, w->entry, w->waiter};
        res = PyObject_VectorcallMethod(str_cancel_send, args, 4, NULL);
    }
    else {
        PyObject *args[2] = {w->ch, w->fut};
        res = PyObject_VectorcallMethod(str_end_receive, args, 2, NULL);
    }
    if (res == NULL)
        PyErr_WriteUnraisable((PyObject *)w);
    Py_XDECREF(res);
    Py_CLEAR(w->fut);
    PyErr_Restore(etype, evalue, etb);
}

static PySendResult
wait_yield(WaitObject *w, PyObject **result)
{
    if (PyObject_SetAttr(w->fut, str_blocking, Py_True) < 0) {
        *result = NULL;
        return PYGEN_ERROR;
    }
    w->yielded = 1;
    *result = Py_NewRef(w->fut);
    return PYGEN_NEXT;
}

static PySendResult
wait_send_result(PyObject *self, PyObject *arg, PyObject **result)
{
    WaitObject *w = (WaitObject *)self;
    *result = NULL;
    if (w->sub != NULL) {
        PySendResult r = PyIter_Send(w->sub, arg, result);
        if (r != PYGEN_NEXT)
            Py_CLEAR(w->sub);
        return r;
    }
    if (w->fut == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse an already awaited port operation");
        return PYGEN_ERROR;
    }
    if (!w->yielded)
        return wait_yield(w, result);
    /* Resumed: the future must be done; its result raises if it was cancelled. */
    PyObject *done = PyObject_CallMethodNoArgs(w->fut, str_done);
    if (done == NULL)
        return PYGEN_ERROR;
    int is_done = PyObject_IsTrue(done);
    Py_DECREF(done);
    if (is_done != 1) {
        if (is_done == 0)
            PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        return PYGEN_ERROR;
    }
    PyObject *res = PyObject_CallMethodNoArgs(w->fut, str_result);
    if (res == NULL) {
        wait_undo(w);
        return PYGEN_ERROR;
    }
    Py_DECREF(res);
    if (w->kind == WAIT_SEND) {
        Py_CLEAR(w->fut);
        *result = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    /* A receive: end this wait, then take what came (or wait again). */
    PyObject *args[2] = {w->ch, w->fut};
    res = PyObject_VectorcallMethod(str_end_receive, args, 2, NULL);
    Py_CLEAR(w->fut);
    if (res == NULL)
        return PYGEN_ERROR;
    Py_DECREF(res);
    PyObject *buf;
    if (data_head(w->ch, &buf) != NULL) {
        PyObject *item = take(w->ch, buf);
        if (item == NULL)
            return PYGEN_ERROR;
        set_slot(w->port, IN_LAST, item);
        *result = item;
        return PYGEN_RETURN;
    }
    /* Anything else: the Python path, run from here on. */
    w->sub = PyObject_CallMethodNoArgs(w->port, str_wait_next);
    if (w->sub == NULL)
        return PYGEN_ERROR;
    PySendResult r = PyIter_Send(w->sub, Py_None, result);
    if (r != PYGEN_NEXT)
        Py_CLEAR(w->sub);
    return r;
}

static PyObject *
wait_next(PyObject *self)
{
    PyObject *value;
    PySendResult r = wait_send_result(self, Py_None, &value);
    if (r == PYGEN_ERROR)
        return NULL;
    if (r == PYGEN_NEXT)
        return value;
    return stop_with(value);
}

static PyObject *
wait_send_method(PyObject *self, PyObject *arg)
{
    PyObject *value;
    PySendResult r = wait_send_result(self, arg, &value);
    if (r == PYGEN_ERROR)
        return NULL;
    if (r == PYGEN_NEXT)
        return value;
    return stop_with(value);
}

static PyObject *
wait_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    WaitObject *w = (WaitObject *)self;
    if (w->sub != NULL) {
        PyObject *meth = PyObject_GetAttr(w->sub, str_throw);
        if (meth == NULL)
            return NULL;
        PyObject *res = PyObject_Vectorcall(meth, args, nargs, NULL);
        Py_DECREF(meth);
        if (res == NULL) {
            Py_CLEAR(w->sub);  /* it raised (or returned: StopIteration) */
        }
        return res;
    }
    ready_throw(self, args, nargs);  /* sets the exception */
    wait_undo(w);
    return NULL;
}

static PyObject *
wait_close(PyObject *self, PyObject *unused)
{
    WaitObject *w = (WaitObject *)self;
    if (w->sub != NULL) {
        PyObject *res = PyObject_CallMethodNoArgs(w->sub, str_close);
        Py_CLEAR(w->sub);
        return res;
    }
    wait_undo(w);
    Py_RETURN_NONE;
}

static PyMethodDef wait_methods[] = {
    {"send", wait_send_method, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))wait_throw, METH_FASTCALL, NULL},
    {"close", wait_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods wait_async = {
    .am_await = ready_await,
    .am_send = wait_send_result,
};

static PyTypeObject Wait_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fbp._core._fastports.Wait",
    .tp_basicsize = sizeof(WaitObject),
    .tp_dealloc = (destructor)wait_dealloc,
    .tp_as_async = &wait_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A port operation waiting on its channel.",
    .tp_traverse = wait_traverse,
    .tp_clear = wait_clear,
    .tp_iter = ready_await,
    .tp_iternext = wait_next,
    .tp_methods = wait_methods,
};

/* -- configuration ----------------------------------------------------------------- */

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *descrs, *types;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &descrs, &PyTuple_Type, &types))
        return NULL;
    if (PyTuple_GET_SIZE(types) != 8) {
        PyErr_SetString(PyExc_ValueError,
                        "configure() needs (InPort, OutPort, Channel, IP, Validator,"
                        " ArrayInPort, deque, CheckedOutPort)");
        return NULL;
    }
    PyTypeObject **targets[8] = {&in_port_type, &out_port_type, &channel_type, &ip_type,
                                 &validator_type, &array_in_type, &deque_type,
                                 &checked_out_type};
    for (int i = 0; i < 8; i++) {
        PyObject *t = PyTuple_GET_ITEM(types, i);
        if (!PyType_Check(t)) {
            PyErr_Format(PyExc_TypeError, "type %d is not a class", i);
            return NULL;
        }
        Py_XSETREF(*targets[i], (PyTypeObject *)Py_NewRef(t));
    }
    if (slot_offsets(descrs, offsets, N_SLOTS) < 0)
        return NULL;
    popleft_fn = method_function(deque_type, "popleft", METH_NOARGS);
    append_fn = method_function(deque_type, "append", METH_O);
    appendleft_fn = method_function(deque_type, "appendleft", METH_O);
    if (popleft_fn == NULL || append_fn == NULL || appendleft_fn == NULL)
        return NULL;
    configured = 1;
    Py_RETURN_NONE;
}

/* -- the slow paths: the Python methods ---------------------------------------------- */

static PyObject *
anext_slow(PyObject *port)
{
    return PyObject_VectorcallMethod(str_anext_py, &port, 1,
                                     NULL);
}

/* Pop the head of a channel's buffer (known to be there) and admit a waiting sender. */
/* -- hand-overs between fused processes ------------------------------------------------
 *
 * A bounded channel hands over about once per channel-full: the sender finds it full
 * and queues itself with its item (Channel._enqueue_send), the receiver's next take
 * lets it in (Channel._admit_sender), which resolves the sender's future and queues it
 * back in its fused scheduler (fbp._core._fuse: release, Scheduler.wake). Those Python
 * methods are the reference; here is their common case, a process that a scheduler
 * runs, waiting on an asyncio Future. Anything else calls them. Configured by
 * configure_handover(). */

static int increment(PyObject *obj, int which);

enum {
    HO_WAITING, HO_LAST_WAIT, HO_FUSED, HO_WAIT, HO_SCHED, HO_READY, HO_IDLE, HO_LOOP,
    HO_BLOCKED_MARK, HO_PEAK, N_HO
};
static Py_ssize_t ho_offsets[N_HO];
static int ho_configured = 0;
static PyTypeObject *waiter_type, *member_type, *sched_type, *future_type;
static PyObject *perf_ns, *kw_loop, *str_send_op, *str_set_result;

static inline PyObject *
ho_slot(PyObject *obj, int which)
{
    return *(PyObject **)((char *)obj + ho_offsets[which]);
}

static inline void
ho_set(PyObject *obj, int which, PyObject *value)
{
    PyObject **p = (PyObject **)((char *)obj + ho_offsets[which]);
    Py_XSETREF(*p, Py_NewRef(value));
}

/* An int slot plus or minus perf_counter_ns() (the channel's time-blocked mark). */
static int
add_now(PyObject *obj, int which, int sign)
{
    PyObject *mark = ho_slot(obj, which);
    if (mark == NULL || !PyLong_CheckExact(mark)) {
        PyErr_SetString(PyExc_TypeError, "the channel's blocked mark is not an int");
        return -1;
    }
    PyObject *now = PyObject_CallNoArgs(perf_ns);
    if (now == NULL)
        return -1;
    PyObject *moved = sign > 0 ? PyNumber_Add(mark, now) : PyNumber_Subtract(mark, now);
    Py_DECREF(now);
    if (moved == NULL)
        return -1;
    PyObject **p = (PyObject **)((char *)obj + ho_offsets[which]);
    Py_SETREF(*p, moved);
    return 0;
}

/* A future's done(), as 1/0, or -1. */
static int
future_done(PyObject *fut)
{
    PyObject *done = PyObject_CallMethodNoArgs(fut, str_done);
    if (done == NULL)
        return -1;
    int d = PyObject_IsTrue(done);
    Py_DECREF(done);
    return d;
}

static int
future_set(PyObject *fut)
{
    PyObject *res = PyObject_CallMethodOneArg(fut, str_set_result, Py_None);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* release(fut, waiter) and Scheduler.wake(m) of fbp._core._fuse. */
static int
release_waiter(PyObject *fut, PyObject *w)
{
    int done = future_done(fut);
    if (done != 0)
        return done < 0 ? -1 : 0;
    if (future_set(fut) < 0)
        return -1;
    if (w == Py_None)
        return 0;
    PyObject *m = ho_slot(w, HO_FUSED);
    if (m == NULL || m == Py_None || ho_slot(m, HO_WAIT) != fut)
        return 0;
    ho_set(m, HO_WAIT, Py_None);
    PyObject *sched = ho_slot(m, HO_SCHED);
    PyObject *ready = ho_slot(sched, HO_READY);
    PyObject *res = append_fn(ready, m);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    PyObject *idle = ho_slot(sched, HO_IDLE);
    if (idle != NULL && idle != Py_None) {
        done = future_done(idle);
        if (done < 0 || (done == 0 && future_set(idle) < 0))
            return -1;
    }
    return 0;
}

/* Whether an object is what the hand-over here knows: a waiter (None, or a process
 * whose scheduler member, if any, has the classes configured). */
static int
known_waiter(PyObject *w)
{
    if (w == Py_None)
        return 1;
    if (!PyObject_TypeCheck(w, waiter_type))
        return 0;
    PyObject *m = ho_slot(w, HO_FUSED);
    if (m == NULL)
        return 0;
    if (m == Py_None)
        return 1;
    if (!Py_IS_TYPE(m, member_type))
        return 0;
    PyObject *sched = ho_slot(m, HO_SCHED);
    if (sched == NULL || !Py_IS_TYPE(sched, sched_type))
        return 0;
    PyObject *ready = ho_slot(sched, HO_READY);
    return ready != NULL && Py_TYPE(ready) == deque_type;
}

/* Channel._admit_sender: the first queued sender's item goes in, and it is released.
 * 1 done, 0 not done here (the Python method is to be called), -1 error. */
static int
admit_here(PyObject *ch, PyObject *waiters)
{
    if (!ho_configured)
        return 0;
    PyObject *entry = PySequence_GetItem(waiters, 0);
    if (entry == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *buf = slot(ch, CHAN_BUF);
    int ok = PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 3
             && Py_IS_TYPE(PyTuple_GET_ITEM(entry, 0), future_type)
             && known_waiter(PyTuple_GET_ITEM(entry, 2)) && buf != NULL
             && Py_TYPE(buf) == deque_type;
    if (!ok) {
        Py_DECREF(entry);
        return 0;
    }
    PyObject *fut = PyTuple_GET_ITEM(entry, 0), *item = PyTuple_GET_ITEM(entry, 1);
    PyObject *w = PyTuple_GET_ITEM(entry, 2);
    PyObject *popped = popleft_fn(waiters, NULL);  /* the entry */
    Py_XDECREF(popped);
    int failed = popped == NULL || add_now(ch, HO_BLOCKED_MARK, +1) < 0;
    if (!failed) {
        PyObject *res = append_fn(buf, item);
        failed = res == NULL || increment(ch, CHAN_ACCEPTED) < 0;
        Py_XDECREF(res);
    }
    if (!failed && w != Py_None)
        ho_set(w, HO_WAITING, Py_None);
    if (!failed)
        failed = release_waiter(fut, w) < 0;
    Py_DECREF(entry);
    return failed ? -1 : 1;
}

/* Channel._enqueue_send for a process a scheduler runs: (fut, entry), or NULL with no
 * exception when it is not that case (the Python method is to be called). */
static PyObject *
enqueue_send_here(PyObject *ch, PyObject *item, PyObject *w)
{
    if (!ho_configured || w == Py_None || !known_waiter(w))
        return NULL;
    PyObject *m = ho_slot(w, HO_FUSED);
    PyObject *buf = slot(ch, CHAN_BUF), *waiters = slot(ch, CHAN_SEND_WAITERS);
    PyObject *peak = ho_slot(ch, HO_PEAK), *signal = slot(ch, CHAN_RECV_SIGNAL);
    if (m == Py_None || buf == NULL || Py_TYPE(buf) != deque_type || waiters == NULL
        || Py_TYPE(waiters) != deque_type || peak == NULL || !PyLong_CheckExact(peak)
        || (signal != NULL && signal != Py_None))  /* a rendezvous: the Python method */
        return NULL;
    PyObject *loop = ho_slot(ho_slot(m, HO_SCHED), HO_LOOP);
    if (loop == NULL)
        return NULL;
    PyObject *fut = PyObject_Vectorcall((PyObject *)future_type, &loop, 0, kw_loop);
    if (fut == NULL)
        return NULL;
    ho_set(m, HO_WAIT, fut);
    Py_ssize_t high = PyLong_AsSsize_t(peak);
    if (high == -1 && PyErr_Occurred())
        goto error;
    if (Py_SIZE(buf) > high) {
        PyObject *n = PyLong_FromSsize_t(Py_SIZE(buf));
        if (n == NULL)
            goto error;
        PyObject **p = (PyObject **)((char *)ch + ho_offsets[HO_PEAK]);
        Py_SETREF(*p, n);
    }
    PyObject *entry = PyTuple_Pack(3, fut, item, w);
    if (entry == NULL)
        goto error;
    PyObject *res = append_fn(waiters, entry);
    if (res == NULL || add_now(ch, HO_BLOCKED_MARK, -1) < 0) {
        Py_XDECREF(res);
        Py_DECREF(entry);
        goto error;
    }
    Py_DECREF(res);
    PyObject *chans = PyTuple_Pack(1, ch);
    PyObject *desc = chans == NULL ? NULL : PyTuple_Pack(2, chans, str_send_op);
    Py_XDECREF(chans);
    if (desc == NULL) {
        Py_DECREF(entry);
        goto error;
    }
    ho_set(w, HO_WAITING, desc);
    ho_set(w, HO_LAST_WAIT, desc);
    Py_DECREF(desc);
    PyObject *pair = PyTuple_Pack(2, fut, entry);
    Py_DECREF(entry);
    Py_DECREF(fut);
    return pair;
error:
    Py_DECREF(fut);
    return NULL;
}

/* configure_handover(descriptors, (Waiter, _Member, Scheduler, Future), perf_counter_ns):
 * the slots the hand-over reads (Waiter.waiting, .last_wait, .fused, _Member.wait,
 * .sched, Scheduler.ready, ._idle, .loop, Channel._blocked_mark, ._peak), once. */
static PyObject *
configure_handover(PyObject *self, PyObject *args)
{
    PyObject *descrs, *types, *clock;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyTuple_Type, &descrs, &PyTuple_Type, &types, &clock))
        return NULL;
    if (PyTuple_GET_SIZE(types) != 4) {
        PyErr_SetString(PyExc_ValueError, "configure_handover() needs 4 classes");
        return NULL;
    }
    PyTypeObject **targets[4] = {&waiter_type, &member_type, &sched_type, &future_type};
    for (int i = 0; i < 4; i++) {
        PyObject *t = PyTuple_GET_ITEM(types, i);
        if (!PyType_Check(t)) {
            PyErr_Format(PyExc_TypeError, "type %d is not a class", i);
            return NULL;
        }
        Py_XSETREF(*targets[i], (PyTypeObject *)Py_NewRef(t));
    }
    if (slot_offsets(descrs, ho_offsets, N_HO) < 0)
        return NULL;
    Py_XSETREF(perf_ns, Py_NewRef(clock));
    ho_configured = 1;
    Py_RETURN_NONE;
}

/* Let a sender waiting for room put its item in (a receive made room). */
static int
admit(PyObject *ch)
{
    PyObject *waiters = slot(ch, CHAN_SEND_WAITERS);
    if (waiters != NULL && Py_TYPE(waiters) == deque_type && Py_SIZE(waiters) > 0) {
        int done = admit_here(ch, waiters);
        if (done)
            return done < 0 ? -1 : 0;
        PyObject *res = PyObject_CallMethodNoArgs(ch, str_admit);
        if (res == NULL)
            return -1;
        Py_DECREF(res);
    }
    return 0;
}

static PyObject *
take(PyObject *ch, PyObject *buf)
{
    PyObject *item = popleft_fn(buf, NULL);
    if (item == NULL)
        return NULL;
    if (admit(ch) < 0) {
        Py_DECREF(item);
        return NULL;
    }
    return item;
}

/* The head of a channel's buffer when it is a bare payload (borrowed), else NULL. */
static PyObject *
data_head(PyObject *ch, PyObject **buf_out)
{
    if (ch == NULL || Py_TYPE(ch) != channel_type)
        return NULL;
    PyObject *buf = slot(ch, CHAN_BUF);
    if (buf == NULL || Py_TYPE(buf) != deque_type || Py_SIZE(buf) == 0)
        return NULL;
    PyObject *head = PySequence_GetItem(buf, 0);
    if (head == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(head);  /* the buffer holds it */
    if (Py_TYPE(head) == ip_type)
        return NULL;  /* a bracket */
    *buf_out = buf;
    return head;
}

/* Whether a channel has nothing buffered, no sender queued and a sender still open:
 * a receiver can only wait. */
static int
empty_and_open(PyObject *ch)
{
    PyObject *buf = slot(ch, CHAN_BUF), *waiters = slot(ch, CHAN_SEND_WAITERS);
    PyObject *open = slot(ch, CHAN_OPEN_SENDERS);
    if (buf == NULL || Py_TYPE(buf) != deque_type || Py_SIZE(buf) != 0)
        return 0;
    if (waiters == NULL || Py_TYPE(waiters) != deque_type || Py_SIZE(waiters) != 0)
        return 0;
    if (open == NULL || !PyLong_CheckExact(open))
        return 0;
    Py_ssize_t n = PyLong_AsSsize_t(open);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return n > 0;
}

/* A receive's common case, done here: a bare payload buffered. 1 taken (*item, a new
 * reference), 0 not done here, -1 error. */
static int
try_take(PyObject *self, PyObject **item)
{
    PyObject *ch = slot(self, IN_CHAN);
    if (ch == NULL || Py_TYPE(ch) != channel_type || slot(self, IN_LAST) == NULL)
        return 0;
    PyObject *buf = slot(ch, CHAN_BUF);
    if (buf == NULL || Py_TYPE(buf) != deque_type || Py_SIZE(buf) == 0)
        return 0;
    PyObject *head = popleft_fn(buf, NULL);  /* taken, then looked at: no peek */
    if (head == NULL)
        return -1;
    if (Py_TYPE(head) == ip_type) {  /* a bracket: put back, for the Python method */
        PyObject *res = appendleft_fn(buf, head);
        Py_DECREF(head);
        if (res == NULL)
            return -1;
        Py_DECREF(res);
        return 0;
    }
    if (admit(ch) < 0) {
        Py_DECREF(head);
        return -1;
    }
    set_slot(self, IN_LAST, head);
    *item = head;
    return 1;
}

/* InPort.__anext__: a bare payload buffered is returned at once. */
static PyObject *
in_anext(PyObject *self, PyObject *unused)
{
    if (configured && PyObject_TypeCheck(self, in_port_type)) {
        PyObject *item;
        int got = try_take(self, &item);
        if (got < 0)
            return NULL;
        if (got) {
            PyObject *r = ready_new(item);
            Py_DECREF(item);
            return r;
        }
        PyObject *ch = slot(self, IN_CHAN);
        if (use_waits && ch != NULL && Py_TYPE(ch) == channel_type && empty_and_open(ch))
            return wait_receive(self, ch);
    }
    return anext_slow(self);
}

/* The Python method, with the same arguments. */
static PyObject *
send_slow(PyObject *port, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    /* The Python method, called with the same arguments. */
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *small[8];
    PyObject **all = small;
    if (1 + nargs + nkw > 8) {
        all = PyMem_Malloc((1 + nargs + nkw) * sizeof(PyObject *));
        if (all == NULL)
            return PyErr_NoMemory();
    }
    all[0] = port;
    for (Py_ssize_t i = 0; i < nargs + nkw; i++)
        all[1 + i] = args[i];
    PyObject *res = PyObject_VectorcallMethod(str_send_py, all, 1 + nargs, kwnames);
    if (all != small)
        PyMem_Free(all);
    return res;
}

/* Add one to an int slot. */
static int
increment(PyObject *obj, int which)
{
    PyObject **p = (PyObject **)((char *)obj + offsets[which]);
    if (*p == NULL || !PyLong_CheckExact(*p))
        return -1;
    PyObject *more = PyNumber_Add(*p, one);
    if (more == NULL)
        return -1;
    Py_SETREF(*p, more);
    return 0;
}

/* Whether a channel is an open one with room (its buffer below its room). */
static int
has_room(PyObject *ch)
{
    if (Py_TYPE(ch) != channel_type)
        return 0;
    PyObject *buf = slot(ch, CHAN_BUF), *room = slot(ch, CHAN_ROOM);
    if (buf == NULL || Py_TYPE(buf) != deque_type || room == NULL || !PyLong_CheckExact(room))
        return 0;
    Py_ssize_t limit = PyLong_AsSsize_t(room);
    if (limit == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    PyObject *acc = slot(ch, CHAN_ACCEPTED);
    return Py_SIZE(buf) < limit && acc != NULL && PyLong_CheckExact(acc);
}

/* Fan-out: the value to every channel of the port when all have room. 1 sent, 0 not
 * handled (the Python path), -1 error. As OutPort._send_item does it. */
static int
fan_out(PyObject *port, PyObject *value)
{
    PyObject *chans = slot(port, OUT_CHANS), *closed = slot(port, OUT_CLOSED);
    if (chans == NULL || !PyTuple_CheckExact(chans) || closed != Py_False)
        return 0;
    Py_ssize_t n = PyTuple_GET_SIZE(chans);
    if (n == 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!has_room(PyTuple_GET_ITEM(chans, i)))
            return 0;
    }
    if (increment(port, OUT_SENT_SLOW) < 0)
        return PyErr_Occurred() ? -1 : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ch = PyTuple_GET_ITEM(chans, i);
        PyObject **accepted = (PyObject **)((char *)ch + offsets[CHAN_ACCEPTED]);
        if (channel_deliver(ch, slot(ch, CHAN_BUF), value, accepted,
                            slot(ch, CHAN_RECV_SIGNAL), append_fn, str_wake) < 0)
            return -1;
    }
    return 1;
}

/* Whether a send's arguments are the common case: parents=None (the default; any
 * other keyword takes the Python path) and a value that needs no conversion (no check,
 * or an instance of exactly the port's class). */
static int
plain_send(PyObject *port, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (kwnames != NULL) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            if (args[nargs + i] != Py_None
                || PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, i), str_parents) != 0)
                return 0;
        }
    }
    PyObject *v = slot(port, OUT_VALIDATOR);
    if (v == NULL)
        return 0;
    if (v == Py_None)
        return 1;
    if (Py_TYPE(v) != validator_type)
        return 0;
    PyObject *plain = slot(v, VALIDATOR_PLAIN);
    return plain != NULL && (PyObject *)Py_TYPE(args[0]) == plain;
}

/* A send's common case, done here: a value that needs no conversion into one channel
 * with room, or into every channel of a fan-out when all have room. 1 sent, 0 not done
 * here (the Python method decides: a wait, a conversion, a closed port...), -1 error. */
static int
try_send(PyObject *port, PyObject *value, int counted)
{
    PyObject *ch = slot(port, OUT_CHAN);
    if (ch == Py_None)
        return fan_out(port, value);
    if (ch == NULL || Py_TYPE(ch) != channel_type)
        return 0;
    PyObject *buf = slot(ch, CHAN_BUF), *room = slot(ch, CHAN_ROOM);
    if (buf == NULL || Py_TYPE(buf) != deque_type || room == NULL || !PyLong_CheckExact(room))
        return 0;
    Py_ssize_t limit = PyLong_AsSsize_t(room);
    if (limit == -1 && PyErr_Occurred())
        return -1;
    PyObject *sent = slot(port, OUT_SENT_FAST);
    if (Py_SIZE(buf) >= limit || sent == NULL)
        return 0;
    PyObject **count = counted ? (PyObject **)((char *)port + offsets[OUT_SENT_FAST]) : NULL;
    if (channel_deliver(ch, buf, value, count, slot(ch, CHAN_RECV_SIGNAL), append_fn, str_wake) < 0)
        return -1;
    return 1;
}

/* OutPort.send and CheckedOutPort.send: the common case (try_send), or a wait for room
 * in the one channel of a port whose receiver is full. */
static PyObject *
out_send(PyObject *port, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (!configured || nargs != 1
        || !(Py_IS_TYPE(port, out_port_type) || Py_IS_TYPE(port, checked_out_type)
             || PyObject_TypeCheck(port, out_port_type)))
        goto slow;
    if (!plain_send(port, args, nargs, kwnames))
        goto slow;
    PyObject *value = args[0];
    int done = try_send(port, value, 1);
    if (done < 0)
        return NULL;
    if (done)
        return send_done(port);
    PyObject *ch = slot(port, OUT_CHAN);
    if (!use_waits || ch == NULL || Py_TYPE(ch) != channel_type)
        goto slow;
    PyObject *buf = slot(ch, CHAN_BUF), *room = slot(ch, CHAN_ROOM);
    if (buf == NULL || Py_TYPE(buf) != deque_type || room == NULL || !PyLong_CheckExact(room))
        goto slow;
    Py_ssize_t limit = PyLong_AsSsize_t(room);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (Py_SIZE(buf) < limit)
        goto slow;
    /* Full: one open receiver and a policy of waiting means queueing up. */
    PyObject *cap = slot(ch, CHAN_CAPACITY), *drop = slot(ch, CHAN_DROP_OLDEST);
    PyObject *proc = slot(port, OUT_PROC);
    if (cap == NULL || !PyLong_CheckExact(cap) || drop != Py_False || proc == NULL)
        goto slow;
    if (PyObject_RichCompareBool(cap, room, Py_EQ) != 1)
        goto slow;
    PyObject *waiter = PyObject_GetAttr(proc, str_waiter);
    if (waiter == NULL)
        return NULL;
    if (increment(port, OUT_SENT_SLOW) < 0) {
        Py_DECREF(waiter);
        if (PyErr_Occurred())
            return NULL;
        goto slow;
    }
    PyObject *r = wait_send(port, ch, value, waiter);
    Py_DECREF(waiter);
    return r;
slow:
    return send_slow(port, args, nargs, kwnames);
}

/* An array port's receive when an element has a bare payload buffered (round robin,
 * from the element after the last one read): its index and the payload (a new
 * reference): 1; 0 not taken here (the Python method decides); -1 error. */
static int
array_take(PyObject *self, Py_ssize_t *index, PyObject **item)
{
    if (!configured || !PyObject_TypeCheck(self, array_in_type))
        return 0;
    PyObject *elements = slot(self, ARR_ELEMENTS), *next = slot(self, ARR_NEXT);
    if (elements == NULL || !PyList_CheckExact(elements) || next == NULL
        || !PyLong_CheckExact(next))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(elements);
    Py_ssize_t start = PyLong_AsSsize_t(next);
    if (start == -1 && PyErr_Occurred())
        return -1;
    for (Py_ssize_t k = 0; k < n && start >= 0 && start < n; k++) {
        Py_ssize_t i = (start + k) % n;
        PyObject *el = PyList_GET_ITEM(elements, i);
        if (Py_TYPE(el) != in_port_type)
            return 0;  /* a checked or traced element: the Python path */
        PyObject *ch = slot(el, IN_CHAN), *buf;
        if (ch == NULL || Py_TYPE(ch) != channel_type)
            return 0;
        PyObject *b = slot(ch, CHAN_BUF);
        if (b == NULL || Py_TYPE(b) != deque_type)
            return 0;
        if (Py_SIZE(b) == 0) {
            PyObject *w = slot(ch, CHAN_SEND_WAITERS);
            if (w == NULL || Py_TYPE(w) != deque_type || Py_SIZE(w) > 0)
                return 0;  /* a rendezvous sender waits: the Python path */
            continue;
        }
        if (data_head(ch, &buf) == NULL || slot(el, IN_LAST) == NULL)
            return 0;
        PyObject *following = PyLong_FromSsize_t((i + 1) % n);
        if (following == NULL)
            return -1;
        PyObject *got = take(ch, buf);
        if (got == NULL) {
            Py_DECREF(following);
            return -1;
        }
        set_slot(el, IN_LAST, got);
        PyObject **np = (PyObject **)((char *)self + offsets[ARR_NEXT]);
        Py_SETREF(*np, following);
        *index = i;
        *item = got;
        return 1;
    }
    return 0;
}

/* ArrayInPort.__anext__ (round robin from the element after the last one read): a
 * payload buffered gives (index, payload) at once. */
static PyObject *
array_anext(PyObject *self, PyObject *unused)
{
    Py_ssize_t i;
    PyObject *item;
    int got = array_take(self, &i, &item);
    if (got < 0)
        return NULL;
    if (got == 0)
        return anext_slow(self);
    PyObject *index = PyLong_FromSsize_t(i);
    PyObject *pair = index == NULL ? NULL : PyTuple_Pack(2, index, item);
    Py_XDECREF(index);
    Py_DECREF(item);
    if (pair == NULL)
        return NULL;
    PyObject *r = ready_new(pair);
    Py_DECREF(pair);
    return r;
}

/* -- the traced ports: channels of records ------------------------------------------ */

/* A traced network's channels carry records, (ip_id, kind, port_id, activation, t_ns,
 * parents, payload): the sends are fbp._core._accel's put(), the receives keep the last
 * data record and a looper's window of records received since its last send (see
 * TracedInPort). Configured by configure_traced(); each falls back to the Python method
 * (_anext_py / _send_py, TracedInPort's and TracedOutPort's own) in every other case. */

enum { TIN_PENDING, TIN_VALIDATOR, TIN_PROC, N_TRACED_SLOTS };

static Py_ssize_t traced_offsets[N_TRACED_SLOTS];
static int traced_configured = 0;
static PyTypeObject *traced_in_type, *traced_out_type;
static PyObject *traced_put, *data_kind, *str_let_go, *str_net, *str_flush_trace;
static Py_ssize_t window_records;

static inline PyObject *
traced_slot(PyObject *obj, int which)
{
    return *(PyObject **)((char *)obj + traced_offsets[which]);
}

/* A traced port's receive when a data record is buffered: the record taken as
 * TracedInPort.__anext__ takes it (kept as the last one, added to the window), its
 * payload in *payload: 1; 0 not taken here (the Python method decides); -1 error. */
static int
traced_take(PyObject *self, PyObject **payload)
{
    if (!traced_configured || !Py_IS_TYPE(self, traced_in_type)
        || traced_slot(self, TIN_VALIDATOR) != Py_None)
        return 0;
    PyObject *ch = slot(self, IN_CHAN);
    PyObject *pending = traced_slot(self, TIN_PENDING);
    if (ch == NULL || Py_TYPE(ch) != channel_type || pending == NULL
        || !(pending == Py_None || PyList_CheckExact(pending)) || slot(self, IN_LAST) == NULL)
        return 0;
    PyObject *buf = slot(ch, CHAN_BUF);
    if (buf == NULL || Py_TYPE(buf) != deque_type || Py_SIZE(buf) == 0)
        return 0;
    PyObject *head = PySequence_GetItem(buf, 0);
    if (head == NULL)
        return -1;
    int data = PyTuple_CheckExact(head) && PyTuple_GET_SIZE(head) == 7
               && PyTuple_GET_ITEM(head, 1) == data_kind;
    Py_DECREF(head);  /* the buffer holds it */
    if (!data)
        return 0;
    PyObject *rec = take(ch, buf);
    if (rec == NULL)
        return -1;
    set_slot(self, IN_LAST, rec);
    if (pending != Py_None) {
        if (PyList_Append(pending, rec) < 0) {
            Py_DECREF(rec);
            return -1;
        }
        if (PyList_GET_SIZE(pending) > window_records) {
            PyObject *proc = traced_slot(self, TIN_PROC);
            PyObject *res = proc == NULL ? NULL : PyObject_CallMethodNoArgs(proc, str_let_go);
            if (res == NULL) {
                Py_DECREF(rec);
                return -1;
            }
            Py_DECREF(res);
        }
    }
    *payload = Py_NewRef(PyTuple_GET_ITEM(rec, 6));
    Py_DECREF(rec);
    return 1;
}

/* TracedInPort.__anext__: a data record buffered gives its payload at once. */
static PyObject *
traced_anext(PyObject *self, PyObject *unused)
{
    PyObject *payload;
    int got = traced_take(self, &payload);
    if (got < 0)
        return NULL;
    if (got == 0)
        return anext_slow(self);
    PyObject *r = ready_new(payload);
    Py_DECREF(payload);
    return r;
}

/* The trace buffer is full: hand it over (port._proc.net.flush_trace()). */
static int
flush_trace(PyObject *port)
{
    PyObject *proc = slot(port, OUT_PROC);
    PyObject *net = proc == NULL ? NULL : PyObject_GetAttr(proc, str_net);
    if (net == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "a traced port without its process");
        return -1;
    }
    PyObject *res = PyObject_CallMethodNoArgs(net, str_flush_trace);
    Py_DECREF(net);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* put()'s int result (a new reference, taken): 1 sent (the trace buffer flushed when
 * put() said it is full), 0 not handled (the Python method decides), -1 error. */
static int
put_done(PyObject *port, PyObject *res)
{
    long done = PyLong_AsLong(res);
    Py_DECREF(res);
    if (done == -1 && PyErr_Occurred())
        return -1;
    if (done == 2 && flush_trace(port) < 0)
        return -1;
    return done != 0;
}

/* A traced send's common case (put(): recorded and delivered into a channel with
 * room), for a compiled loop: 1 sent, 0 not done here, -1 error. */
static int
try_traced_send(PyObject *port, PyObject *value)
{
    PyObject *put_args[2] = {port, value};
    PyObject *res = PyObject_Vectorcall(traced_put, put_args, 2, NULL);
    return res == NULL ? -1 : put_done(port, res);
}

/* TracedOutPort.send: put()'s cases (the default lineage rules, one channel with room)
 * for a value that needs no conversion. */
static PyObject *
traced_send(PyObject *port, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (!traced_configured || nargs != 1 || !Py_IS_TYPE(port, traced_out_type))
        goto slow;
    if (!plain_send(port, args, nargs, kwnames))
        goto slow;
    PyObject *value = args[0];
    /* A full channel with one receiver and a policy of waiting: put() records the IP
     * (hold) and the send waits with it here, as TracedOutPort.send does. */
    PyObject *ch = slot(port, OUT_CHAN), *proc = slot(port, OUT_PROC);
    int hold = 0;
    if (use_waits && ch != NULL && Py_TYPE(ch) == channel_type && proc != NULL) {
        PyObject *buf = slot(ch, CHAN_BUF), *room = slot(ch, CHAN_ROOM);
        PyObject *cap = slot(ch, CHAN_CAPACITY), *drop = slot(ch, CHAN_DROP_OLDEST);
        if (buf != NULL && Py_TYPE(buf) == deque_type && room != NULL && PyLong_CheckExact(room)
            && cap != NULL && PyLong_CheckExact(cap) && drop == Py_False) {
            Py_ssize_t limit = PyLong_AsSsize_t(room);
            if (limit == -1 && PyErr_Occurred())
                return NULL;
            if (Py_SIZE(buf) >= limit && PyObject_RichCompareBool(cap, room, Py_EQ) == 1)
                hold = 1;
        }
    }
    PyObject *put_args[3] = {port, value, Py_True};
    PyObject *res = PyObject_Vectorcall(traced_put, put_args, hold ? 3 : 2, NULL);
    if (res == NULL)
        return NULL;
    if (PyTuple_CheckExact(res)) {  /* (record, trace_full): wait for room with it */
        PyObject *rec = PyTuple_GET_ITEM(res, 0);
        if (PyTuple_GET_ITEM(res, 1) == Py_True && flush_trace(port) < 0) {
            Py_DECREF(res);
            return NULL;
        }
        PyObject *waiter = PyObject_GetAttr(proc, str_waiter);
        if (waiter == NULL || increment(port, OUT_SENT_SLOW) < 0) {
            Py_XDECREF(waiter);
            Py_DECREF(res);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "the port's send count is not an int");
            return NULL;
        }
        PyObject *w = wait_send(port, ch, rec, waiter);
        Py_DECREF(waiter);
        Py_DECREF(res);
        return w;
    }
    int done = put_done(port, res);
    if (done < 0)
        return NULL;
    if (done == 0)
        goto slow;
    return send_done(port);
slow:
    return send_slow(port, args, nargs, kwnames);
}

/* configure_traced((InPort._pending, InPort._validator, InPort._proc),
 *                  (TracedInPort, TracedOutPort), put, DATA, WINDOW_RECORDS) */
static PyObject *
configure_traced(PyObject *self, PyObject *args)
{
    PyObject *descrs, *types, *put, *data;
    Py_ssize_t window;
    if (!PyArg_ParseTuple(args, "O!O!OOn", &PyTuple_Type, &descrs, &PyTuple_Type, &types, &put,
                          &data, &window))
        return NULL;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure_traced() before configure()");
        return NULL;
    }
    if (PyTuple_GET_SIZE(types) != 2 || !PyType_Check(PyTuple_GET_ITEM(types, 0))
        || !PyType_Check(PyTuple_GET_ITEM(types, 1)) || !PyCallable_Check(put)) {
        PyErr_SetString(PyExc_TypeError,
                        "configure_traced() needs (TracedInPort, TracedOutPort) and put()");
        return NULL;
    }
    if (slot_offsets(descrs, traced_offsets, N_TRACED_SLOTS) < 0)
        return NULL;
    Py_XSETREF(traced_in_type, (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 0)));
    Py_XSETREF(traced_out_type, (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 1)));
    Py_XSETREF(traced_put, Py_NewRef(put));
    Py_XSETREF(data_kind, Py_NewRef(data));
    window_records = window;
    traced_configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef traced_anext_def = {
    "__anext__", traced_anext, METH_NOARGS,
    "The next data payload (ends the iteration when every sender has closed)."};
static PyMethodDef traced_send_def = {
    "send", (PyCFunction)(void (*)(void))traced_send, METH_FASTCALL | METH_KEYWORDS,
    "send(value, *, parents=None): send a data IP, recorded, waiting while a receiver is full."};

/* traced_methods() -> (TracedInPort.__anext__, TracedOutPort.send). */
static PyObject *
traced_methods(PyObject *self, PyObject *unused)
{
    if (!traced_configured) {
        PyErr_SetString(PyExc_RuntimeError, "traced_methods() before configure_traced()");
        return NULL;
    }
    PyObject *a = PyDescr_NewMethod(traced_in_type, &traced_anext_def);
    PyObject *b = PyDescr_NewMethod(traced_out_type, &traced_send_def);
    PyObject *res = (a && b) ? PyTuple_Pack(2, a, b) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return res;
}

static PyMethodDef in_anext_def = {
    "__anext__", in_anext, METH_NOARGS,
    "The next data payload (ends the iteration when every sender has closed)."};
static PyMethodDef array_anext_def = {
    "__anext__", array_anext, METH_NOARGS,
    "The next (index, payload) from whichever element has one first."};
static PyMethodDef out_send_def = {
    "send", (PyCFunction)(void (*)(void))out_send, METH_FASTCALL | METH_KEYWORDS,
    "send(value, *, parents=None): send a data IP, waiting while a receiver is full."};

/* methods() -> (InPort.__anext__, ArrayInPort.__anext__, OutPort.send,
 * CheckedOutPort.send) as method descriptors of the configured classes. */
static PyObject *
methods(PyObject *self, PyObject *unused)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "methods() before configure()");
        return NULL;
    }
    PyObject *a = PyDescr_NewMethod(in_port_type, &in_anext_def);
    PyObject *b = PyDescr_NewMethod(array_in_type, &array_anext_def);
    PyObject *c = PyDescr_NewMethod(out_port_type, &out_send_def);
    /* Its own descriptor, whose check of self's class is then an identity test. */
    PyObject *d = PyDescr_NewMethod(checked_out_type, &out_send_def);
    PyObject *res = (a && b && c && d) ? PyTuple_Pack(4, a, b, c, d) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    Py_XDECREF(d);
    return res;
}

/* The async-iteration slot of a class whose __anext__ is one of the methods above: the
 * slot calls the C function itself. Otherwise `async for` finds the slot of a Python
 * class, which looks the method up and calls it through its descriptor on every item. */
static PyObject *in_anext_slot(PyObject *self) { return in_anext(self, NULL); }
static PyObject *array_anext_slot(PyObject *self) { return array_anext(self, NULL); }
static PyObject *traced_anext_slot(PyObject *self) { return traced_anext(self, NULL); }

/* bind_anext(cls): cls.__anext__ must be one of this module's methods; from now on
 * `async for` over an instance of cls calls it without the lookup. Assigning
 * cls.__anext__ again (fbp._core._fast.uninstall) gives the class Python's slot back. */
static PyObject *
bind_anext(PyObject *self, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_HEAPTYPE)) {
        PyErr_SetString(PyExc_TypeError, "bind_anext() needs a class defined in Python");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *d = PyDict_GetItemString(tp->tp_dict, "__anext__");
    unaryfunc f = NULL;
    if (d != NULL && Py_IS_TYPE(d, &PyMethodDescr_Type)) {
        PyCFunction meth = ((PyMethodDescrObject *)d)->d_method->ml_meth;
        if (meth == in_anext)
            f = in_anext_slot;
        else if (meth == array_anext)
            f = array_anext_slot;
        else if (meth == traced_anext)
            f = traced_anext_slot;
    }
    if (f == NULL || tp->tp_as_async == NULL) {
        PyErr_Format(PyExc_TypeError, "%s.__anext__ is not a method of this module", tp->tp_name);
        return NULL;
    }
    tp->tp_as_async->am_anext = f;
    Py_RETURN_NONE;
}

/* -- Loop: a compiled receive loop ----------------------------------------------------
 *
 * `async for x in self.in_: <body>` rewritten by fbp._core._loops into
 * `await drive(self.in_, step, self, "out", skip)`: the body became step(x), which
 * returns the value its last statement sent on self.out (or `skip`: nothing sent).
 * The loop runs here: it receives, calls the step and sends, taking a port's common
 * case at once (try_take, try_send) and otherwise calling the port's own method
 * (__anext__, send) and awaiting what it returns as `yield from` would, so that a
 * wait, a bracket, the end of the stream, validation, tracing and cancellation are
 * the ports' own code. The iteration ends as `async for` ends: at StopAsyncIteration. */

enum { LOOP_RECEIVE, LOOP_STEP, LOOP_SEND };

typedef struct {
    PyObject_HEAD
    PyObject *it;        /* the async iterator */
    PyObject *step;
    PyObject *out;       /* the output port; NULL when the body sends nothing or when
                          * the step returns what to send where ("pairs") */
    int pairs;           /* the step returns (port, value) or (port, value, parents) */
    int sync;            /* it is an iterator (a for loop), not an async one */
    PyObject *stop;      /* what the step returns to leave the loop (break) */
    PyTypeObject *out_type;    /* the port's class when its send is out_send ... */
    unsigned int out_version;  /* ... as of this version of the class (send_is) */
    PyTypeObject *traced_type;    /* the same for traced_send */
    unsigned int traced_version;
    Py_ssize_t pick;     /* >= 0: the body sends element pick of the item, a tuple of
                          * width elements (the step is called for any other item) */
    Py_ssize_t width;
    PyObject *skip;      /* what the step returns when it sent nothing */
    PyObject *sub;       /* the port operation awaited, or NULL */
    int phase;           /* what sub is */
    int finished;
    Py_ssize_t unsent;   /* sends to out not yet added to its sent_fast (see count_in) */
} LoopObject;

static PyTypeObject Loop_Type;
static PyObject *str_send, *kw_parents;

static const Py_ssize_t loop_fields[] = {
    offsetof(LoopObject, it), offsetof(LoopObject, step), offsetof(LoopObject, out),
    offsetof(LoopObject, skip), offsetof(LoopObject, stop), offsetof(LoopObject, sub), -1};

static int
loop_traverse(PyObject *L, visitproc visit, void *arg)
{
    return traverse_fields(L, loop_fields, visit, arg);
}

static int
loop_clear(PyObject *L)
{
    clear_fields(L, loop_fields);
    return 0;
}

static void
loop_dealloc(LoopObject *L)
{
    PyObject_GC_UnTrack(L);
    loop_clear((PyObject *)L);
    PyObject_GC_Del(L);
}

/* What `await` iterates for an awaitable (as the interpreter's GET_AWAITABLE). */
static PyObject *
awaitable_iter(PyObject *aw)
{
    if (PyCoro_CheckExact(aw))
        return Py_NewRef(aw);
    PyAsyncMethods *am = Py_TYPE(aw)->tp_as_async;
    if (am != NULL && am->am_await != NULL)
        return am->am_await(aw);
    PyErr_Format(PyExc_TypeError, "object %.100s can't be used in 'await' expression",
                 Py_TYPE(aw)->tp_name);
    return NULL;
}

/* The value of a port operation that is done at once (a Ready), taken as `await`
 * takes it; NULL (no error) when it is not one. */
static PyObject *
ready_value(PyObject *aw)
{
    if (!Py_IS_TYPE(aw, &Ready_Type))
        return NULL;
    ReadyObject *r = (ReadyObject *)aw;
    PyObject *value = r->value;  /* the reference moves to the caller */
    r->value = NULL;
    return value;
}

/* The loop ended: StopAsyncIteration during a receive ends it as `async for` does. */
static PySendResult
loop_failed(LoopObject *L, PyObject **result)
{
    *result = NULL;
    if (L->phase == LOOP_RECEIVE && PyErr_ExceptionMatches(PyExc_StopAsyncIteration)) {
        PyErr_Clear();
        L->finished = 1;
        *result = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    L->finished = 1;
    return PYGEN_ERROR;
}

/* Start awaiting a port operation: its first step, then either it yields (the loop
 * yields what it yielded and keeps it as sub) or it is done (*value). */
static PySendResult
loop_await(LoopObject *L, PyObject *aw, PyObject **value)
{
    PyObject *iter = awaitable_iter(aw);
    Py_DECREF(aw);
    if (iter == NULL)
        return PYGEN_ERROR;
    PySendResult r = PyIter_Send(iter, Py_None, value);
    if (r == PYGEN_NEXT)
        L->sub = iter;
    else
        Py_DECREF(iter);
    return r;
}

/* Whether a port's class has `send` as this module's function fn: looked up once per
 * version of the class, remembered in *type and *version. */
static int
send_is(PyObject *port, PyCFunction fn, PyTypeObject **type, unsigned int *version)
{
    PyTypeObject *tp = Py_TYPE(port);
    if (tp == *type && tp->tp_version_tag == *version && *version != 0)
        return 1;
    PyObject *meth = _PyType_Lookup(tp, str_send);  /* borrowed; tags the class */
    if (meth == NULL || !Py_IS_TYPE(meth, &PyMethodDescr_Type)
        || ((PyMethodDescrObject *)meth)->d_method->ml_meth != fn)
        return 0;
    if (PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) {
        *type = tp;
        *version = tp->tp_version_tag;
    }
    return 1;
}

/* Whether the output port's send is out_send (OutPort and CheckedOutPort, while the
 * compiled methods are installed). */
static int
compiled_send(LoopObject *L, PyObject *port)
{
    PyTypeObject *tp = Py_TYPE(port);
    return configured && (tp == out_port_type || tp == checked_out_type)
           && send_is(port, (PyCFunction)(void (*)(void))out_send, &L->out_type, &L->out_version);
}

/* Whether the output port's send is traced_send (TracedOutPort, while the compiled
 * methods are installed). */
static int
compiled_traced_send(LoopObject *L, PyObject *port)
{
    return traced_configured && Py_IS_TYPE(port, traced_out_type)
           && send_is(port, (PyCFunction)(void (*)(void))traced_send, &L->traced_type,
                      &L->traced_version);
}

/* Add the sends counted here to the port's sent_fast. */
static int
count_in(LoopObject *L)
{
    if (L->unsent == 0)
        return 0;
    PyObject **sp = (PyObject **)((char *)L->out + offsets[OUT_SENT_FAST]);
    PyObject *n = PyLong_FromSsize_t(L->unsent);
    PyObject *more = n == NULL ? NULL : PyNumber_Add(*sp, n);
    Py_XDECREF(n);
    if (more == NULL)
        return -1;
    Py_SETREF(*sp, more);
    L->unsent = 0;
    return 0;
}

/* A port's C send (out_send, traced_send), called as its method is. */
typedef PyObject *(*send_method)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);

static PySendResult loop_steps(LoopObject *L, PyObject *item, PyObject **result);

/* Run the loop from `item` (a new reference, or NULL: receive first). While it runs,
 * it counts its sends to out itself and the port reads them from it (OutPort.fast_sent:
 * its _loop is this loop); they are added to the port's count when it stops. */
static PySendResult
loop_run(LoopObject *L, PyObject *item, PyObject **result)
{
    PyObject **owner = NULL;
    if (L->out != NULL && configured && (Py_IS_TYPE(L->out, out_port_type)
                                         || Py_IS_TYPE(L->out, checked_out_type))) {
        owner = (PyObject **)((char *)L->out + offsets[OUT_LOOP]);
        if (*owner == Py_None)
            Py_SETREF(*owner, Py_NewRef((PyObject *)L));
        else
            owner = NULL;  /* another loop counts there (or a class without the slot) */
    }
    PySendResult r = loop_steps(L, item, result);
    if (owner != NULL) {
        PyObject *exc_type, *exc_value, *exc_tb;
        PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
        int failed = count_in(L);
        Py_SETREF(*owner, Py_NewRef(Py_None));
        if (failed < 0) {
            Py_XDECREF(exc_type);
            Py_XDECREF(exc_value);
            Py_XDECREF(exc_tb);
            if (r != PYGEN_ERROR)
                Py_CLEAR(*result);
            return PYGEN_ERROR;
        }
        PyErr_Restore(exc_type, exc_value, exc_tb);
    }
    return r;
}

static PySendResult
loop_steps(LoopObject *L, PyObject *item, PyObject **result)
{
    int picked = 0;  /* item is the element the body sends, taken from an array port */
    for (;;) {
        if (item == NULL) {
            L->phase = LOOP_RECEIVE;
            PyObject *it = L->it;
            if (L->sync) {  /* a for loop: the next item of an iterator */
                item = Py_TYPE(it)->tp_iternext(it);
                if (item == NULL) {
                    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_StopIteration))
                        return loop_failed(L, result);
                    PyErr_Clear();
                    L->finished = 1;
                    *result = Py_NewRef(Py_None);
                    return PYGEN_RETURN;
                }
                goto step;
            }
            PyAsyncMethods *am = Py_TYPE(it)->tp_as_async;
            int got = 0;
            if (am != NULL && am->am_anext == in_anext_slot && configured
                && PyObject_TypeCheck(it, in_port_type))
                got = try_take(it, &item);
            else if (am != NULL && am->am_anext == traced_anext_slot)
                got = traced_take(it, &item);
            else if (am != NULL && am->am_anext == array_anext_slot) {
                Py_ssize_t i;
                PyObject *v;
                got = array_take(it, &i, &v);
                if (got > 0) {
                    if (L->pick >= 0 && L->width == 2) {  /* the pair is not made */
                        if (L->pick == 1) {
                            item = v;
                        }
                        else {
                            item = PyLong_FromSsize_t(i);
                            Py_DECREF(v);
                        }
                        if (item == NULL)
                            return loop_failed(L, result);
                        picked = 1;
                    }
                    else {
                        PyObject *index = PyLong_FromSsize_t(i);
                        item = index == NULL ? NULL : PyTuple_Pack(2, index, v);
                        Py_XDECREF(index);
                        Py_DECREF(v);
                        if (item == NULL)
                            return loop_failed(L, result);
                    }
                }
            }
            if (got < 0)
                return loop_failed(L, result);
            if (!got) {
                if (am == NULL || am->am_anext == NULL) {
                    PyErr_Format(PyExc_TypeError, "'async for' requires an iterator with "
                                 "__anext__ method, got %.100s", Py_TYPE(it)->tp_name);
                    return loop_failed(L, result);
                }
                PyObject *aw = am->am_anext(it);
                if (aw == NULL)
                    return loop_failed(L, result);
                item = ready_value(aw);
                if (item != NULL) {
                    Py_DECREF(aw);
                }
                else {
                    PyObject *value;
                    PySendResult r = loop_await(L, aw, &value);
                    if (r == PYGEN_NEXT) {
                        *result = value;
                        return PYGEN_NEXT;
                    }
                    if (r == PYGEN_ERROR)
                        return loop_failed(L, result);
                    item = value;
                }
            }
        }
    step:
        L->phase = LOOP_STEP;  /* what the body raises is its own, StopAsyncIteration too */
        PyObject *out;
        if (picked || L->step == Py_None)  /* the body sends the item (or its element) */
            out = Py_NewRef(item);
        else if (L->pick >= 0 && PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == L->width)
            out = Py_NewRef(PyTuple_GET_ITEM(item, L->pick));
        else
            out = PyObject_Vectorcall(L->step, &item, 1, NULL);
        picked = 0;
        Py_CLEAR(item);
        if (out == NULL)
            return loop_failed(L, result);
        if (out == L->stop) {  /* break */
            Py_DECREF(out);
            L->finished = 1;
            *result = Py_NewRef(Py_None);
            return PYGEN_RETURN;
        }
        if (out == L->skip || (L->out == NULL && !L->pairs)) {
            Py_DECREF(out);
            continue;
        }
        L->phase = LOOP_SEND;
        PyObject *port, *parents = NULL;
        if (L->pairs) {
            if (!PyTuple_CheckExact(out) || PyTuple_GET_SIZE(out) < 2
                || PyTuple_GET_SIZE(out) > 3) {
                Py_DECREF(out);
                PyErr_SetString(PyExc_SystemError, "a compiled loop's step gave no send");
                return loop_failed(L, result);
            }
            PyObject *pair = out;
            port = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
            out = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
            if (PyTuple_GET_SIZE(pair) == 3)
                parents = Py_NewRef(PyTuple_GET_ITEM(pair, 2));
            Py_DECREF(pair);
        }
        else {
            port = Py_NewRef(L->out);
        }
        int sent = 0;
        send_method method = NULL;  /* the port's send, when it is ours */
        if (parents == NULL && compiled_send(L, port)) {
            method = out_send;
            if (plain_send(port, &out, 1, NULL)) {
                int counted = !(port == L->out && slot(port, OUT_LOOP) == (PyObject *)L);
                sent = try_send(port, out, counted);
                if (sent > 0 && !counted)
                    L->unsent++;
            }
        }
        else if (parents == NULL && compiled_traced_send(L, port)) {
            method = traced_send;
            if (plain_send(port, &out, 1, NULL))
                sent = try_traced_send(port, out);
        }
        if (sent == 0) {
            if (count_in(L) < 0)
                sent = -1;
        }
        if (sent == 0) {
            PyObject *call_args[3] = {port, out, parents};
            PyObject *aw = method != NULL  /* called as the method is, without its lookup */
                ? method(port, call_args + 1, 1, NULL)
                : PyObject_VectorcallMethod(str_send, call_args,
                                            2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                            parents == NULL ? NULL : kw_parents);
            if (aw == NULL) {
                sent = -1;
            }
            else {
                PyObject *value = ready_value(aw);
                if (value != NULL) {
                    Py_DECREF(aw);
                    Py_DECREF(value);
                }
                else {
                    PySendResult r = loop_await(L, aw, &value);
                    if (r == PYGEN_NEXT) {
                        Py_DECREF(port);
                        Py_DECREF(out);
                        Py_XDECREF(parents);
                        *result = value;
                        return PYGEN_NEXT;
                    }
                    if (r == PYGEN_ERROR)
                        sent = -1;
                    else
                        Py_DECREF(value);
                }
            }
        }
        Py_DECREF(port);
        Py_DECREF(out);
        Py_XDECREF(parents);
        if (sent < 0)
            return loop_failed(L, result);
    }
}

/* The awaited operation (sub) gave its result: go on from there. */
static PySendResult
loop_resume(LoopObject *L, PySendResult r, PyObject *value, PyObject **result)
{
    if (r == PYGEN_NEXT) {
        *result = value;
        return PYGEN_NEXT;
    }
    Py_CLEAR(L->sub);
    if (r == PYGEN_ERROR)
        return loop_failed(L, result);
    if (L->phase == LOOP_RECEIVE)
        return loop_run(L, value, result);
    Py_DECREF(value);
    return loop_run(L, NULL, result);
}

static PySendResult
loop_send(PyObject *self, PyObject *arg, PyObject **result)
{
    LoopObject *L = (LoopObject *)self;
    if (L->finished) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse an already awaited receive loop");
        *result = NULL;
        return PYGEN_ERROR;
    }
    if (L->sub == NULL)
        return loop_run(L, NULL, result);
    PyObject *value;
    PySendResult r = PyIter_Send(L->sub, arg, &value);
    return loop_resume(L, r, value, result);
}

static PyObject *
loop_result(PySendResult r, PyObject *value)
{
    if (r == PYGEN_NEXT)
        return value;
    if (r == PYGEN_RETURN)
        return stop_with(value);
    return NULL;
}

static PyObject *
loop_next(PyObject *self)
{
    PyObject *value;
    PySendResult r = loop_send(self, Py_None, &value);
    return loop_result(r, value);
}

static PyObject *
loop_send_method(PyObject *self, PyObject *arg)
{
    PyObject *value;
    PySendResult r = loop_send(self, arg, &value);
    return loop_result(r, value);
}

/* throw(): into the awaited operation, as `yield from` does; raised here when there
 * is none. */
static PyObject *
loop_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    LoopObject *L = (LoopObject *)self;
    if (L->sub == NULL || L->finished) {
        L->finished = 1;
        return ready_throw(self, args, nargs);
    }
    PyObject *meth = PyObject_GetAttr(L->sub, str_throw);
    if (meth == NULL) {
        Py_CLEAR(L->sub);
        L->finished = 1;
        return NULL;
    }
    PyObject *yielded = PyObject_Vectorcall(meth, args, nargs, NULL);
    Py_DECREF(meth);
    if (yielded != NULL)
        return yielded;
    PyObject *value = NULL;
    PySendResult r;
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        PyErr_NormalizeException(&et, &ev, &etb);
        value = ev != NULL ? PyObject_GetAttrString(ev, "value") : Py_NewRef(Py_None);
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(etb);
        r = value == NULL ? PYGEN_ERROR : PYGEN_RETURN;
    }
    else {
        r = PYGEN_ERROR;
    }
    PyObject *res;
    r = loop_resume(L, r, value, &res);
    return loop_result(r, res);
}

static PyObject *
loop_close(PyObject *self, PyObject *unused)
{
    LoopObject *L = (LoopObject *)self;
    L->finished = 1;
    PyObject *sub = L->sub;
    L->sub = NULL;
    if (sub != NULL) {
        PyObject *res = PyObject_CallMethodNoArgs(sub, str_close);
        Py_DECREF(sub);
        if (res == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return NULL;
            PyErr_Clear();
        }
        Py_XDECREF(res);
    }
    Py_RETURN_NONE;
}

static PyObject *
loop_yieldfrom(PyObject *self, void *unused)
{
    PyObject *sub = ((LoopObject *)self)->sub;
    return Py_NewRef(sub != NULL ? sub : Py_None);
}

static PyMethodDef loop_methods[] = {
    {"send", loop_send_method, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))loop_throw, METH_FASTCALL, NULL},
    {"close", loop_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef loop_members[] = {
    {"unsent", T_PYSSIZET, offsetof(LoopObject, unsent), READONLY,
     "Sends to the output port made by the running loop and not yet in its count."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef loop_getset[] = {
    {"gi_yieldfrom", loop_yieldfrom, NULL, "The port operation awaited, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyAsyncMethods loop_async = {
    .am_await = ready_await,
    .am_send = loop_send,
};

static PyTypeObject Loop_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fbp._core._fastports.Loop",
    .tp_basicsize = sizeof(LoopObject),
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_as_async = &loop_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A compiled receive loop (see fbp._core._loops).",
    .tp_traverse = loop_traverse,
    .tp_clear = loop_clear,
    .tp_iter = ready_await,
    .tp_iternext = loop_next,
    .tp_methods = loop_methods,
    .tp_members = loop_members,
    .tp_getset = loop_getset,
};

/* drive(iterable, step, out, skip, stop, pairs, sync): the awaitable that runs the loop
 * over an async iterable, or an iterable with sync (out: the output port, or None when
 * the body sends nothing or pairs is true). */
static PyObject *
drive(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 && nargs != 9) {
        PyErr_SetString(PyExc_TypeError,
                        "drive(iterable, step, out or None, skip, stop, pairs, sync"
                        "[, pick, width])");
        return NULL;
    }
    Py_ssize_t pick = -1, width = 0;
    if (nargs == 9) {
        pick = PyLong_AsSsize_t(args[7]);
        width = PyLong_AsSsize_t(args[8]);
        if ((pick == -1 || width == -1) && PyErr_Occurred())
            return NULL;
        if (pick < 0 || pick >= width) {
            PyErr_SetString(PyExc_ValueError, "drive(): pick must be an index below width");
            return NULL;
        }
    }
    int pairs = PyObject_IsTrue(args[5]), sync = PyObject_IsTrue(args[6]);
    if (pairs < 0 || sync < 0)
        return NULL;
    PyObject *it;
    if (sync) {
        it = PyObject_GetIter(args[0]);
    }
    else {
        PyAsyncMethods *am = Py_TYPE(args[0])->tp_as_async;
        if (am == NULL || am->am_aiter == NULL) {
            PyErr_Format(PyExc_TypeError, "'async for' requires an object with __aiter__ "
                         "method, got %.100s", Py_TYPE(args[0])->tp_name);
            return NULL;
        }
        it = am->am_aiter(args[0]);
    }
    if (it == NULL)
        return NULL;
    LoopObject *L = PyObject_GC_New(LoopObject, &Loop_Type);
    if (L == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    L->it = it;
    L->step = Py_NewRef(args[1]);
    L->out = args[2] == Py_None ? NULL : Py_NewRef(args[2]);
    L->out_type = NULL;
    L->traced_type = NULL;
    L->traced_version = 0;
    L->pick = pick;
    L->width = width;
    L->out_version = 0;
    L->skip = Py_NewRef(args[3]);
    L->stop = Py_NewRef(args[4]);
    L->pairs = pairs;
    L->sync = sync;
    L->sub = NULL;
    L->phase = LOOP_RECEIVE;
    L->finished = 0;
    L->unsent = 0;
    PyObject_GC_Track(L);
    return (PyObject *)L;
}

/* all_exactly(values, cls): whether every element of a list or tuple is an instance of
 * exactly cls (a batch that validation can pass as it is). */
static PyObject *
all_exactly(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "all_exactly(values, cls)");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "all_exactly() needs a sequence");
    if (seq == NULL)
        return NULL;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *cls = args[1];
    int ok = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((PyObject *)Py_TYPE(items[i]) != cls) {
            ok = 0;
            break;
        }
    }
    Py_DECREF(seq);
    return PyBool_FromLong(ok);
}

static PyObject *
set_waits(PyObject *self, PyObject *on)
{
    int v = PyObject_IsTrue(on);
    if (v < 0)
        return NULL;
    use_waits = v;
    Py_RETURN_NONE;
}

static PyObject *
set_unawaited_hook(PyObject *self, PyObject *hook)
{
    Py_XSETREF(unawaited_hook, hook == Py_None ? NULL : Py_NewRef(hook));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(descriptors, (InPort, OutPort, Channel, IP, Validator, ArrayInPort,"
     " deque, CheckedOutPort)): the slots the fast paths read, once."},
    {"methods", methods, METH_NOARGS,
     "methods() -> (InPort.__anext__, ArrayInPort.__anext__, OutPort.send,"
     " CheckedOutPort.send)."},
    {"all_exactly", (PyCFunction)(void (*)(void))all_exactly, METH_FASTCALL,
     "all_exactly(values, cls): whether every value's class is exactly cls."},
    {"configure_traced", configure_traced, METH_VARARGS,
     "configure_traced(descriptors, (TracedInPort, TracedOutPort), put, DATA, WINDOW_RECORDS):"
     " the traced ports' slots and the traced send's put(), once."},
    {"traced_methods", traced_methods, METH_NOARGS,
     "traced_methods() -> (TracedInPort.__anext__, TracedOutPort.send)."},
    {"set_unawaited_hook", set_unawaited_hook, METH_O,
     "set_unawaited_hook(fn): fn(port) is called for a send that was never awaited."},
    {"drive", (PyCFunction)(void (*)(void))drive, METH_FASTCALL,
     "drive(iterable, step, out, skip, stop, pairs, sync[, pick, width]): a compiled loop"
     " (fbp._core._loops)."},
    {"configure_handover", configure_handover, METH_VARARGS,
     "configure_handover(descriptors, (Waiter, _Member, Scheduler, Future), perf_counter_ns):"
     " the hand-over between fused processes in C, once."},
    {"bind_anext", bind_anext, METH_O,
     "bind_anext(cls): async for over cls calls its C __anext__ without looking it up."},
    {"set_waits", set_waits, METH_O,
     "set_waits(on): whether waits on a channel are done here or by the Python methods."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fbp._core._fastports",
    "The untraced port operations' common cases in C (optional; see fbp._core._fast).", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit__fastports(void)
{
    /* API: what fbp._core._compiled expects (a build of older sources is stale). */
    if (PyType_Ready(&Ready_Type) < 0 || PyType_Ready(&Wait_Type) < 0
        || PyType_Ready(&Loop_Type) < 0)
        return NULL;
    str_send = PyUnicode_InternFromString("send");
    str_send_op = PyUnicode_InternFromString("send");
    str_set_result = PyUnicode_InternFromString("set_result");
    kw_loop = Py_BuildValue("(s)", "loop");
    if (str_send_op == NULL || str_set_result == NULL || kw_loop == NULL)
        return NULL;
    kw_parents = Py_BuildValue("(s)", "parents");
    if (str_send == NULL || kw_parents == NULL)
        return NULL;
    str_enqueue_receive = PyUnicode_InternFromString("_enqueue_receive");
    str_end_receive = PyUnicode_InternFromString("_end_receive");
    str_enqueue_send = PyUnicode_InternFromString("_enqueue_send");
    str_cancel_send = PyUnicode_InternFromString("_cancel_send");
    str_blocking = PyUnicode_InternFromString("_asyncio_future_blocking");
    str_result = PyUnicode_InternFromString("result");
    str_done = PyUnicode_InternFromString("done");
    str_wait_next = PyUnicode_InternFromString("_wait_next");
    str_throw = PyUnicode_InternFromString("throw");
    str_close = PyUnicode_InternFromString("close");
    str_waiter = PyUnicode_InternFromString("waiter");
    if (str_enqueue_receive == NULL || str_end_receive == NULL || str_enqueue_send == NULL
        || str_cancel_send == NULL || str_blocking == NULL || str_result == NULL
        || str_done == NULL || str_wait_next == NULL || str_throw == NULL || str_close == NULL
        || str_waiter == NULL)
        return NULL;
    str_wake = PyUnicode_InternFromString("wake_receiver");
    str_admit = PyUnicode_InternFromString("_admit_sender");
    str_anext_py = PyUnicode_InternFromString("_anext_py");
    str_send_py = PyUnicode_InternFromString("_send_py");
    str_parents = PyUnicode_InternFromString("parents");
    one = PyLong_FromLong(1);
    str_let_go = PyUnicode_InternFromString("let_go");
    str_net = PyUnicode_InternFromString("net");
    str_flush_trace = PyUnicode_InternFromString("flush_trace");
    if (str_let_go == NULL || str_net == NULL || str_flush_trace == NULL)
        return NULL;
    if (str_wake == NULL || str_admit == NULL || str_anext_py == NULL || str_send_py == NULL
        || str_parents == NULL || one == NULL)
        return NULL;
    PyObject *mod = PyModule_Create(&module);
    if (mod != NULL && PyModule_AddIntConstant(mod, "API", 3) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
