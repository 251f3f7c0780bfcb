"""A reviewer's programs against the narrowed footprints of Python steps (``_footprint.py``:
``name += ...`` on an immutable value, and on 3.11 the calls of callees loaded by name): each
reached an outcome the plain search reaches and ``dfs`` missed, on 3.11 or 3.12, before the
fixes (a generator resumed mid-line rebinding a name the line's ``+=`` or call then used; a
method's attribute rebound earlier on its line; a callee's name rebound while its call ran; a
builtin going through ``map(items.append, ...)``; a class attribute named ``__dict__``); and a
third review's: objects that call what they were given from C where no step sees it (a loop,
unpacking, ``in`` or ``set.union`` over ``map``/``filter``/``iter(f, sentinel)``/``starmap`` of a
builtin method; a ``defaultdict`` subscript inserting; a weak reference's callback or a
finalizer run where the referent dies); a fourth's: such objects made by a maker called from
C or through ``functools.partial``, subclasses of makers, a factory set after the
``defaultdict`` was made, ``cmp_to_key`` keys compared, ``bytes(it)``, ``xs += it``,
``xs.sort(key=f)``; a fifth's: a ``defaultdict`` sliced or formatted with ``%``, a shared
exception raised, ``match`` calling a mapping's ``get``, ``print`` into a program's
``sys.stdout``, a factory set by ``setattr`` or ``__init__``, a kept callable changed after
(``__code__``, ``partial.__setstate__``), a ``property`` over a builtin method."""

import collections
import collections.abc
import functools
import itertools
import random
import sys
import threading
import types
import weakref

import pytest

import racelab

outcomes = []


class Box:
    pass


def run_two_quietly(f, g):
    a = threading.Thread(target=f)
    b = threading.Thread(target=g)
    a.start()
    b.start()
    a.join()
    b.join()


def rebinder(items):
    global x
    yield 0; x = items; yield 1  # noqa: E702 - resumed mid-line: no line event

def prog_gen_inplace():
    # A: `next(g); x += [1]` - at the line event x holds () (immutable), but the generator,
    # resumed mid-line, rebinds the global x to the shared list before the load.
    global x
    items = []
    x = ()
    box = Box()
    box.b = -1
    g = rebinder(items)

    def extend():
        global x
        next(g)
        next(g); x += [1]  # noqa: E702
        done = True  # noqa: F841 - the thread's end in a step of its own

    def count():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own

    run_two_quietly(extend, count)
    outcomes.append(box.b)


def noop(*a, **k):
    return None

# ---- B: a generator resumed mid-line rebinds the callee's global name ----
def rebind_h(items):
    global h
    yield 0; h = items.append; yield 1  # noqa: E702

def prog_gen_callee():
    global h
    items = []
    h = noop
    box = Box(); box.b = -1
    g = rebind_h(items)
    def add():
        next(g)
        next(g); h(5)  # noqa: E702 - h resolved at the line event: noop (a function of the file)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

# ---- C: the method's attribute is rebound earlier on the same line ----
class C:
    def m(self, v):
        return v

def prog_attr_same_line():
    items = []
    o = C()
    box = Box(); box.b = -1
    def add():
        o.m = items.append; o.m(5)  # noqa: E702
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

# C': module attribute rebound on the same line
mod = types.ModuleType("mod")
mod.f = noop

def prog_module_attr_same_line():
    mod.f = noop
    items = []
    box = Box(); box.b = -1
    def add():
        mod.f = items.append; mod.f(5)  # noqa: E702
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

# ---- D: the callee's name is rebound while the arguments are evaluated ----
def key(v):
    return v

def setter():
    global run
    run = noop
    return key

def prog_rebound_in_args():
    global run
    items = [3, 1, 2]
    run = items.sort
    box = Box(); box.b = -1
    def sorter():
        run(key=setter())
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(sorter, look)
    outcomes.append(box.b)

# D': documented assumption: the callback rebinds the name
def key2(v):
    global run2
    run2 = noop
    return v

def prog_rebound_in_callback():
    global run2
    items = [3, 1, 2]
    run2 = items.sort
    box = Box(); box.b = -1
    def sorter():
        run2(key=key2)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(sorter, look)
    outcomes.append(box.b)

# ---- E: a pure builtin that runs a mutator it is given ----
def prog_list_map_append():
    items = []
    box = Box(); box.b = -1
    def add():
        list(map(items.append, (1,)))
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

# ---- F: a class attribute named __dict__ hides the instance dict from getattr_static ----
class D:
    __dict__ = {}
    def m(self, v):
        return v

def prog_dict_shadow():
    items = []
    o = D()
    o.m = items.append
    box = Box(); box.b = -1
    def add():
        o.m(5)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

# D2: the reader starts first (so DPOR's first run has it before the sort)
def prog_rebound_in_args_lookfirst():
    global run
    items = [3, 1, 2]
    run = items.sort
    box = Box(); box.b = -1
    def sorter():
        run(key=setter())
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = tuple(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(look, sorter)
    outcomes.append(box.b)

# D3: the callee's name rebound by a walrus in its own arguments (the line's own store)
def prog_walrus_in_args_lookfirst():
    items = [3, 1, 2]
    box = Box(); box.b = -1
    def sorter():
        run = items.sort
        run(key=(run := noop) and key)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = tuple(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(look, sorter)
    outcomes.append(box.b)


# ----- a second review's programs (2026-12-01) -----

# 3.12 tells no CALL event for ``f(*args)`` when ``f`` is a Python function: a library's
# ``Counter.update`` or ``Random.shuffle`` ran unseen.
def prog_counter_update_star():
    c = collections.Counter()
    box = Box(); box.b = -1
    args = ("x",)
    def add():
        c.update(*args)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(c)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

def call(f, *a):
    return f(*a)

def prog_wrapper_call():
    c = collections.Counter()
    box = Box(); box.b = -1
    def add():
        call(c.update, "x")
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(c)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

def prog_shuffle_kwargs():
    items = list(range(6))
    rnd = random.Random(1)
    box = Box(); box.b = -1
    kw = {"x": items}
    def add():
        rnd.shuffle(**kw)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = tuple(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(look, add)
    outcomes.append(box.b)


# A class that inherits a container's constructor goes through the iterable it is given.
class MyList(list):
    pass

class MyTuple(tuple):
    pass

def prog_subclass_list_map():
    items = []
    box = Box(); box.b = -1
    def add():
        z = 0
        m = MyList(map(items.append, (1,)))
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)

def prog_subclass_tuple_iter_pop():
    stack = [None, 1]
    box = Box(); box.b = -1
    def drain():
        z = 0
        t = MyTuple(iter(stack.pop, None))
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(stack)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(drain, look)
    outcomes.append(box.b)


# A method's class swapped on its line (3.11 resolves ``o.m`` at the line event).
class Swapped:
    def m(self, v):
        return v

def prog_class_swap():
    items = []
    class D:
        m = items.append     # a builtin: no descriptor, `o.m` is items.append
    o = Swapped()
    box = Box(); box.b = -1
    def add():
        o.__class__ = D; o.m(5)  # noqa: E702
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


# A variable written through its closure cell.
def prog_cell_contents_callee():
    items = []
    box = Box(); box.b = -1
    f = noop
    def keep():
        return f
    cell = keep.__closure__[0]
    def add():
        cell.cell_contents = items.append; f(5)  # noqa: E702
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


# both versions: `x += [1]` on a cell holding () at the line event, rebound to the shared list
# through cell_contents earlier on the line (the narrowing counts only stores of the name x)
def prog_cell_contents_inplace():
    items = []
    box = Box(); box.b = -1
    x = ()
    def keep():
        return x
    cell = keep.__closure__[0]
    def add():
        nonlocal x
        cell.cell_contents = items; x += [1]  # noqa: E702
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


# pre-existing aliasing: cell.cell_contents (key n:cell_contents) vs the name (n:y)
def prog_cell_contents_alias():
    box = Box(); box.b = -1
    y = 0
    def keep():
        return y
    cell = keep.__closure__[0]
    def setter():
        cell.cell_contents = 1
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = y
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(setter, look)
    outcomes.append(box.b)


# ---- hidden callers (a third review): objects that call what they were given from C ----
class Obj:
    pass


def prog_defaultdict_read():
    d = collections.defaultdict(int)
    box = Box(); box.b = -1
    def read():
        d["k"]
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(d)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(read, look)
    outcomes.append(box.b)


def prog_for_map():
    items = []
    box = Box(); box.b = -1
    it = map(items.append, (1,))
    def add():
        for _ in it:
            pass
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


def prog_for_iter_pop():
    stack = [1, 2]
    box = Box(); box.b = -1
    def drain():
        for v in iter(stack.pop, 1):
            pass
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(stack)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(drain, look)
    outcomes.append(box.b)


def prog_unpack_map():
    items = []
    box = Box(); box.b = -1
    def add():
        a, = map(items.append, (1,))
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


def prog_in_map():
    items = []
    box = Box(); box.b = -1
    def add():
        5 in map(items.append, (1,))
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


def prog_union_map():
    items = []
    box = Box(); box.b = -1
    s = set()
    def add():
        s.union(map(items.append, (1,)))
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


def prog_starmap():
    items = []
    box = Box(); box.b = -1
    it = itertools.starmap(items.append, ((1,),))
    def add():
        for _ in it:
            pass
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


def prog_star_args_map():
    items = []
    box = Box(); box.b = -1
    def add():
        [*map(items.append, (1,))]
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


def prog_filter():
    items = [1]
    box = Box(); box.b = -1
    def add():
        for _ in filter(items.remove, (1,)):
            pass
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


def prog_weakref_callback():
    # The weak reference made before the threads start; its callback runs from C in the step that
    # drops the referent, in another thread.
    items = []
    box = Box(); box.b = -1
    holder = Box(); holder.o = Obj()
    ref = weakref.ref(holder.o, items.append)  # noqa: F841 - kept alive for its callback
    def drop():
        holder.o = None
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(drop, look)
    outcomes.append(box.b)


def prog_finalize():
    items = []
    box = Box(); box.b = -1
    holder = Box(); holder.o = Obj()
    weakref.finalize(holder.o, items.append, 1)
    def drop():
        holder.o = None
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(drop, look)
    outcomes.append(box.b)



# ---- a fourth review: makers called from C, subclasses of makers, factories set later, keys ----
def prog_bytes_iter():
    stack = [0, 1]
    box = Box(); box.b = -1
    it = iter(stack.pop, 0)
    def drain():
        bytes(it)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(stack)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(drain, look)
    outcomes.append(box.b)


def prog_cmp_to_key():
    d = {}
    box = Box(); box.b = -1
    k = functools.cmp_to_key(d.setdefault)
    lo, hi = k("x"), k(1)
    def cmp():
        lo < hi
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(d)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(cmp, look)
    outcomes.append(box.b)


def prog_factory_reassigned():
    box = Box(); box.b = 0; box.c = -1
    d = collections.defaultdict(int)
    d.default_factory = functools.partial(setattr, box, "b", 1)
    def read():
        d["k"]
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(read, look)
    outcomes.append(box.c)


def prog_iadd_map_setattr():
    box = Box(); box.b = 0; box.c = -1
    xs = []
    it = map(setattr, (box,), ("b",), (1,))
    def add():
        nonlocal xs
        xs += it
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.c)


def prog_sort_key_getattr():
    box = Box(); box.b = 0; box.c = 1
    xs = ["b", "c"]
    key = functools.partial(getattr, box)
    def sort():
        xs.sort(key=key)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def write():
        box.b = 2
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(sort, write)
    outcomes.append(tuple(xs))


def prog_map_of_iter():
    stack = [1, 2]
    box = Box(); box.b = -1
    its = list(map(iter, (stack.pop,), (1,)))
    def drain():
        for _ in its[0]:
            pass
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(stack)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(drain, look)
    outcomes.append(box.b)


class R(weakref.ref):
    pass


def prog_weakref_subclass():
    items = []
    box = Box(); box.b = -1
    holder = Box(); holder.o = Obj()
    r = R(holder.o, items.append)  # noqa: F841
    def drop():
        holder.o = None
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(drop, look)
    outcomes.append(box.b)


class M(map):
    pass


def prog_map_subclass():
    items = []
    box = Box(); box.b = -1
    it = M(items.append, (1,))
    def add():
        for _ in it:
            pass
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.b)


class DD(collections.defaultdict):
    pass


def prog_max_cmp_keys():
    d = {}
    box = Box(); box.b = -1
    k = functools.cmp_to_key(d.setdefault)
    pair = [k(1), k("x")]
    def cmp():
        x = 0  # noqa: F841
        max(pair)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(d)
        done = True  # noqa: F841 - the thread's end in a step of its own
    ta = threading.Thread(target=cmp)
    tb = threading.Thread(target=look)
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    outcomes.append(box.b)


def prog_partial_iter():
    stack = [1, 2]
    box = Box(); box.b = -1
    it = functools.partial(iter, stack.pop, 1)()
    def drain():
        x = 0  # noqa: F841
        for _ in it: pass  # noqa: E701
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(stack)
        done = True  # noqa: F841 - the thread's end in a step of its own
    ta = threading.Thread(target=drain)
    tb = threading.Thread(target=look)
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    outcomes.append(box.b)


def prog_dd_subclass_factory_set():
    box = Box(); box.b = 0; box.c = -1
    d = DD(None)
    d.default_factory = functools.partial(setattr, box, "b", 1)
    def read():
        x = 0  # noqa: F841
        d["k"]
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    ta = threading.Thread(target=read)
    tb = threading.Thread(target=look)
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    outcomes.append(box.c)


# ---- a fifth review: slices, operators, raising, match, print, factories and kept callables changed ----
# P1: 3.12 BINARY_SLICE on a defaultdict: slice keys are hashable in 3.12, the factory inserts
def prog_dd_slice():
    box = Box(); box.b = 0; box.c = -1
    d = collections.defaultdict(functools.partial(setattr, box, "b", 1))
    def read():
        d[0:1]
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(read, look)
    outcomes.append(box.c)


# P2: printf-style % with a defaultdict mapping subscripts it
def prog_dd_percent():
    box = Box(); box.b = 0; box.c = -1
    d = collections.defaultdict(functools.partial(setattr, box, "b", 1))
    def read():
        "%(k)s" % d
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(read, look)
    outcomes.append(box.c)


# P3: raise sets the shared exception's __traceback__
def prog_raise_traceback():
    err = ValueError()
    box = Box(); box.b = -1
    def thrower():
        try: raise err  # noqa: E701
        except ValueError: pass  # noqa: E701
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = err.__traceback__ is None
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(thrower, look)
    outcomes.append(box.b)


# P4: MATCH_KEYS calls the mapping's `get` attribute (an instance attribute: a builtin)
class MapSub(collections.abc.Mapping):
    def __getitem__(self, key):
        raise KeyError(key)
    def __iter__(self):
        return iter(())
    def __len__(self):
        return 1


def prog_match_get():
    box = Box(); box.b = 0; box.c = -1
    k = MapSub()
    k.get = functools.partial(setattr, box)
    def matcher():
        match k:
            case {"b": _}: pass  # noqa: E701
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b == 0
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(matcher, look)
    outcomes.append(box.c)


# P6: print writes through sys.stdout.write
def prog_print_stdout():
    items = []
    box = Box(); box.b = -1
    out = Box(); out.write = items.append
    old = sys.stdout
    sys.stdout = out
    def say():
        print(1)
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    try:
        run_two_quietly(say, look)
    finally:
        sys.stdout = old
    outcomes.append(box.b)


# P7: the factory set through setattr / __init__ (not a store of `default_factory`)
def prog_dd_setattr_factory():
    box = Box(); box.b = 0; box.c = -1
    d = collections.defaultdict(None)
    setattr(d, "default_factory", functools.partial(setattr, box, "b", 1))
    def read():
        d["k"]
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(read, look)
    outcomes.append(box.c)


def prog_dd_reinit_factory():
    box = Box(); box.b = 0; box.c = -1
    d = collections.defaultdict(None)
    d.__init__(functools.partial(setattr, box, "b", 1))
    def read():
        d["k"]
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(read, look)
    outcomes.append(box.c)


# P8: the kept callable is a function of the program's file when map is made, its code then
# replaced by code of no program file
def prog_code_swap():
    box = Box(); box.b = 0; box.c = -1
    def fac(_):
        box.b = 1
    it = map(fac, (0,))
    fac.__code__ = fac.__code__.replace(co_filename="<elsewhere>")
    def add():
        for _ in it: pass  # noqa: E701
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.c)


# P9: a partial kept by map, changed by __setstate__ after
def prog_partial_setstate():
    box = Box(); box.b = 0; box.c = -1
    p = functools.partial(len)
    it = map(p, ("x",))
    p.__setstate__((setattr, (box, "b"), None, None))
    def add():
        for _ in it: pass  # noqa: E701
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.c = box.b
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(add, look)
    outcomes.append(box.c)


# P10: property with a builtin fget: LOAD_ATTR calls it
def prog_property_builtin():
    items = []
    box = Box(); box.b = -1
    class P:
        p = property(items.append)
    o = P()
    def get():
        o.p
        done = True  # noqa: F841 - the thread's end in a step of its own
    def look():
        box.b = len(items)
        done = True  # noqa: F841 - the thread's end in a step of its own
    run_two_quietly(get, look)
    outcomes.append(box.b)


@pytest.mark.parametrize("program", [
    prog_gen_inplace, prog_gen_callee, prog_attr_same_line, prog_module_attr_same_line, prog_rebound_in_args,
    prog_rebound_in_callback, prog_list_map_append, prog_dict_shadow, prog_rebound_in_args_lookfirst,
    prog_walrus_in_args_lookfirst, prog_counter_update_star, prog_wrapper_call, prog_shuffle_kwargs,
    prog_subclass_list_map, prog_subclass_tuple_iter_pop, prog_class_swap, prog_cell_contents_callee,
    prog_cell_contents_inplace, prog_cell_contents_alias, prog_defaultdict_read, prog_for_map, prog_for_iter_pop,
    prog_unpack_map, prog_in_map, prog_union_map, prog_starmap, prog_star_args_map, prog_filter,
    prog_weakref_callback, prog_finalize, prog_bytes_iter, prog_cmp_to_key, prog_factory_reassigned,
    prog_iadd_map_setattr, prog_sort_key_getattr, prog_map_of_iter, prog_weakref_subclass, prog_map_subclass,
    prog_max_cmp_keys, prog_partial_iter, prog_dd_subclass_factory_set,
    pytest.param(prog_dd_slice, marks=pytest.mark.skipif(sys.version_info < (3, 12),
                                                          reason="a slice is a dict key from 3.12 on")),
    prog_dd_percent,
    prog_raise_traceback, prog_match_get, prog_print_stdout, prog_dd_setattr_factory, prog_dd_reinit_factory,
    prog_code_swap, prog_partial_setstate, prog_property_builtin])
def test_the_reduced_search_reaches_the_plain_searchs_outcomes(program):
    found = {}
    for strategy in ("dfs-plain", "dfs"):
        outcomes.clear()
        report = racelab.check(program, strategy=strategy, granularity="line", runs=20_000)
        assert report.passed and report.exhausted, report
        found[strategy] = set(outcomes)
    assert len(found["dfs-plain"]) > 1, found  # a race, or the comparison proves nothing
    assert found["dfs"] == found["dfs-plain"], found
