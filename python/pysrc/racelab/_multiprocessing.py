"""``multiprocessing``'s shared objects over racelab's primitives, for ``racelab-py``.

A program's processes are racelab green threads (``_threading.Process``), so what
``multiprocessing`` builds on operating-system semaphores and shared memory must be racelab's
too: a real ``multiprocessing.Lock`` held by one green thread would block the only OS thread when
another asks for it, and hang the check. Here are the same names with ``multiprocessing``'s
signatures (``acquire(block=True, timeout=None)``, ``Value('i', 0)``, ``Pipe()``...):

- ``Lock``, ``RLock``, ``Semaphore``, ``BoundedSemaphore``: racelab's, with the ``block`` and
  ``timeout=None`` spelling of ``multiprocessing``; ``Condition``, ``Event`` and ``Barrier`` are
  ``threading``'s (same interface).
- ``Value`` and ``Array`` are synchronized wrappers as in CPython: every read or write of
  ``.value`` (or of an item) takes the wrapper's ``RLock`` for that one access, so ``v.value += 1``
  is a locked read then a locked write, and loses updates between them as it does in CPython;
  ``with v.get_lock():`` around it is the fix. ``RawValue``/``RawArray`` have no lock.
- ``Pipe`` gives two connections whose objects are copied (pickled) as through a pipe.
- ``Manager()`` (a server process racelab does not simulate) is refused with a clear error, and
  ``get_context``/``set_start_method`` keep the program on these objects whatever start method it
  asks for.
- ``fork_copy`` is what a process's memory starts as: a copy of its parent's (see
  ``python/src/memory.rs``).
"""

import copy as _copy
import pickle

from . import _racelab
from . import _threading as rl

_DEFAULTS = {"c": b"\x00", "u": "\x00", "f": 0.0, "d": 0.0}


def _default(typecode_or_type):
    if isinstance(typecode_or_type, str):
        return _DEFAULTS.get(typecode_or_type, 0)
    name = getattr(typecode_or_type, "__name__", "")
    return 0.0 if name in ("c_float", "c_double", "c_longdouble") else 0


class _Locking:
    """``acquire(block=True, timeout=None)`` over a racelab lock or semaphore in ``self._inner``,
    whose own spelling of "wait for ever" is ``_FOREVER``."""

    _FOREVER = -1

    def acquire(self, block=True, timeout=None):
        if not block:
            return self._inner.acquire(False)
        return self._inner.acquire(True, self._FOREVER if timeout is None else max(timeout, 0.0))

    def release(self):
        self._inner.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class Lock(_Locking):
    def __init__(self):
        self._inner = rl.Lock()

    def __repr__(self):
        return f"<racelab multiprocessing.Lock {self._inner!r}>"


class RLock(_Locking):
    def __init__(self):
        self._inner = rl.RLock()

    def __repr__(self):
        return f"<racelab multiprocessing.RLock {self._inner!r}>"


class Semaphore(_Locking):
    _FOREVER = None

    def __init__(self, value=1):
        self._inner = rl.Semaphore(value)

    def get_value(self):
        return self._inner._value


class BoundedSemaphore(Semaphore):
    def __init__(self, value=1):
        self._inner = rl.BoundedSemaphore(value)


def Condition(lock=None):
    """``multiprocessing.Condition``: ``threading``'s, on the inner racelab lock."""
    if lock is None:
        lock = RLock()
    return rl.Condition(lock._inner if isinstance(lock, _Locking) else lock)


Event = rl.Event
Barrier = rl.Barrier


class _Synchronized:
    """What ``Value``/``Array`` return with a lock: each access takes the lock (see module docs)."""

    def __init__(self, lock):
        self._lock = RLock() if lock is True or lock is None else lock

    def get_lock(self):
        return self._lock

    def acquire(self, *args, **kwargs):
        return self._lock.acquire(*args, **kwargs)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)


class RawValue:
    """``multiprocessing.RawValue``: one value in shared memory, no lock."""

    def __init__(self, typecode_or_type, *args):
        self._typecode = typecode_or_type
        self.value = args[0] if args else _default(typecode_or_type)

    def __repr__(self):
        return f"<racelab Value {self._typecode!r} {self.value!r}>"


class SynchronizedValue(_Synchronized):
    def __init__(self, typecode_or_type, value, lock):
        super().__init__(lock)
        self._raw = RawValue(typecode_or_type, value)

    def get_obj(self):
        return self._raw

    @property
    def value(self):
        with self._lock:
            return self._raw.value

    @value.setter
    def value(self, new):
        with self._lock:
            self._raw.value = new

    def __repr__(self):
        return f"<Synchronized wrapper for {self._raw!r}>"


def Value(typecode_or_type, *args, lock=True):
    """``multiprocessing.Value``: with ``lock=False`` a ``RawValue``."""
    value = args[0] if args else _default(typecode_or_type)
    if lock is False:
        return RawValue(typecode_or_type, value)
    return SynchronizedValue(typecode_or_type, value, lock)


class _SharedList(list):
    """The items of an ``Array``: shared memory, so a process's copy of its parent's memory
    shares it instead of copying it."""


def RawArray(typecode_or_type, size_or_initializer):
    """``multiprocessing.RawArray``: a fixed-size list."""
    if isinstance(size_or_initializer, int):
        return _SharedList([_default(typecode_or_type)] * size_or_initializer)
    return _SharedList(size_or_initializer)


class SynchronizedArray(_Synchronized):
    def __init__(self, items, lock):
        super().__init__(lock)
        self._items = items

    def get_obj(self):
        return self._items

    def __len__(self):
        return len(self._items)

    def __getitem__(self, index):
        with self._lock:
            return self._items[index]

    def __setitem__(self, index, value):
        with self._lock:
            if isinstance(index, slice):
                values = list(value)
                if len(range(*index.indices(len(self._items)))) != len(values):
                    raise ValueError("Can only assign sequence of same size")
                self._items[index] = values
            else:
                self._items[index] = value

    def __iter__(self):
        return iter(self[:])

    def __repr__(self):
        return f"<SynchronizedArray wrapper for {self._items!r}>"


def Array(typecode_or_type, size_or_initializer, *, lock=True):
    """``multiprocessing.Array``: with ``lock=False`` a ``RawArray``."""
    items = RawArray(typecode_or_type, size_or_initializer)
    if lock is False:
        return items
    return SynchronizedArray(items, lock)


class Connection:
    """One end of a ``Pipe``: objects sent are copied (pickled) and arrive in order."""

    def __init__(self, incoming, outgoing):
        self._incoming = incoming
        self._outgoing = outgoing
        self._peeked = []
        self.closed = False

    def _check(self, queue, what):
        if self.closed:
            raise OSError("handle is closed")
        if queue is None:
            raise OSError(f"connection is {'write' if what == 'read' else 'read'}-only")

    def send(self, obj):
        self._check(self._outgoing, "write")
        self._outgoing.put(pickle.dumps(obj), True, None)

    def recv(self):
        self._check(self._incoming, "read")
        if self._peeked:
            return pickle.loads(self._peeked.pop(0))
        return pickle.loads(self._incoming.get(True, None))

    def send_bytes(self, buf, offset=0, size=None):
        data = bytes(buf)[offset:] if size is None else bytes(buf)[offset:offset + size]
        self.send(data)

    def recv_bytes(self, maxlength=None):
        return self.recv()

    def poll(self, timeout=0.0):
        """True when an object is ready, waiting up to ``timeout`` seconds (``None``: forever)."""
        self._check(self._incoming, "read")
        if self._peeked:
            return True
        try:
            if timeout is not None and timeout <= 0:
                item = self._incoming.get(False, None)
            else:
                item = self._incoming.get(True, timeout)
        except Exception as e:  # queue.Empty: nothing came in time
            if type(e).__name__ == "Empty":
                return False
            raise
        self._peeked.append(item)
        return True

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __deepcopy__(self, memo):
        """A process's copy of a connection (``fork_copy``): its own handle on the same pipe, so
        closing it (the usual ``child_conn.close()`` in the parent) closes only that copy."""
        twin = Connection(self._incoming, self._outgoing)
        twin.closed = self.closed
        twin._peeked = list(self._peeked)
        return twin


def Pipe(duplex=True):
    """``multiprocessing.Pipe``: ``(conn1, conn2)``; with ``duplex=False`` conn1 only receives and
    conn2 only sends."""
    rl._run.pipes += 1
    name = f"Pipe-{rl._run.pipes}"
    a_to_b = _racelab.Queue(0, False, f"{name} (to conn2)" if duplex else name)
    if not duplex:
        return Connection(a_to_b, None), Connection(None, a_to_b)
    b_to_a = _racelab.Queue(0, False, f"{name} (to conn1)")
    return Connection(b_to_a, a_to_b), Connection(a_to_b, b_to_a)


class SimpleQueue:
    """``multiprocessing.SimpleQueue``: unbounded, items copied."""

    def __init__(self):
        self._q = rl.ProcessQueue()

    def put(self, obj):
        self._q.put(obj)

    def get(self):
        return self._q.get()

    def empty(self):
        return self._q.empty()

    def close(self):
        pass


def Manager(*_args, **_kwargs):
    raise rl.Unsupported(
        "racelab: multiprocessing.Manager() starts a server process, which racelab does not simulate: share "
        "state through multiprocessing.Queue, Pipe, Value or Array (racelab simulates those), or check the "
        "program with threads."
    )


def set_start_method(_method=None, force=False):
    """Every start method is racelab's green-thread process."""


def get_start_method(allow_none=False):
    return "fork"


class _Context:
    """What ``multiprocessing.get_context(method)`` returns: the module's replaced names."""

    def __init__(self, names):
        self.__dict__.update(names)

    def get_start_method(self, allow_none=False):
        return "fork"

    def set_start_method(self, _method=None, force=False):
        pass


class _SharingRacelabObjects(dict):
    """``copy``'s table of copiers, with every racelab object (a primitive, a queue, a pipe, a
    ``Value``, a thread or process) copied as itself: a process shares those with its parent."""

    def get(self, cls, default=None):
        if cls is Connection:
            return dict.get(self, cls, default)  # its own __deepcopy__: a handle per process
        if getattr(cls, "__module__", "").startswith("racelab.") or issubclass(cls, rl.Thread):
            return _copy._deepcopy_atomic
        return dict.get(self, cls, default)


def _copy_or_share(value, memo):
    try:
        return _copy.deepcopy(value, memo)
    except Exception:  # noqa: BLE001 - what cannot be copied (a module, an open file) is shared
        return value


def fork_copy(namespace, args, kwargs):
    """A process's memory when it starts, as ``fork`` makes it: a deep copy of the parent's globals
    (``namespace``) and of the process's arguments, one copy graph (an object reachable from both
    is copied once), sharing racelab's objects and what cannot be copied. Returns ``(globals,
    args, kwargs)``."""
    real = _copy._deepcopy_dispatch
    _copy._deepcopy_dispatch = _SharingRacelabObjects(real)
    try:
        memo = {}
        snapshot = {}
        for name, value in namespace.items():
            dunder = name.startswith("__") and name.endswith("__")
            snapshot[name] = value if dunder else _copy_or_share(value, memo)
        args = tuple(_copy_or_share(a, memo) for a in args)
        kwargs = {k: _copy_or_share(v, memo) for k, v in kwargs.items()}
    finally:
        _copy._deepcopy_dispatch = real
    return snapshot, args, kwargs


def names():
    """The ``multiprocessing`` attributes a check replaces, by name."""
    table = {
        "Process": rl.Process, "Queue": rl.ProcessQueue, "JoinableQueue": rl.JoinableProcessQueue,
        "SimpleQueue": SimpleQueue, "current_process": rl.current_process, "Pool": rl.ProcessPool,
        "Lock": Lock, "RLock": RLock, "Semaphore": Semaphore, "BoundedSemaphore": BoundedSemaphore,
        "Condition": Condition, "Event": Event, "Barrier": Barrier,
        "Value": Value, "Array": Array, "RawValue": RawValue, "RawArray": RawArray, "Pipe": Pipe,
        "Manager": Manager, "set_start_method": set_start_method, "get_start_method": get_start_method,
    }
    context = _Context(table)
    table["get_context"] = lambda method=None: context
    return table
