/* The C fast paths read the runtime's own slotted objects by the offsets of their slots;
 * this is how both modules (fbp._core._accel, fbp._core._fastports) learn them, once,
 * from the classes' member descriptors. */
#ifndef FBP_SLOTS_H
#define FBP_SLOTS_H

#include <Python.h>
#include <structmember.h>

/* The offsets of n object slots from a tuple of their member descriptors: 0, or -1
 * with an exception set. */
static int
slot_offsets(PyObject *descrs, Py_ssize_t *offsets, int n)
{
    if (!PyTuple_Check(descrs) || PyTuple_GET_SIZE(descrs) != n) {
        PyErr_Format(PyExc_ValueError, "configure() needs a tuple of %d slot descriptors", n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        PyObject *d = PyTuple_GET_ITEM(descrs, i);
        if (!PyObject_TypeCheck(d, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "descriptor %d is not an object slot", i);
            return -1;
        }
        offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    return 0;
}

#endif
