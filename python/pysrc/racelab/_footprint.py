"""What a step of Python code may touch, for the partial-order reduction of ``dfs``.

DPOR explores one order of two steps when they commute; it learns that from the objects each
step reads and writes. A step between two scheduling points inside the program's own code runs
the rest of a line (``line`` granularity) or one instruction (``opcode``), then, when its frame
returns or yields, the rest of the lines of the frames above it. Its footprint is a sound
over-approximation of what that code can touch, computed from the bytecode:

- a *footprint* is an int: bit ``i`` reads bucket ``i``, bit ``63 + i`` writes bucket ``i``, bit
  ``ALL`` writes everything (the Rust side records it on racelab objects, see ``threads.rs``);
- a name (global, attribute, closure cell: one namespace, so ``module.x`` and global ``x``, or
  ``obj.__dict__``-free attribute access, alias soundly) and "the contents of containers"
  (subscripts, iteration, ``len``, container methods, operators) are keys, hashed to one of 63
  buckets with FNV-1a (stable across runs, unlike ``hash``); collisions only add conflicts;
- ``name += ...`` (an in-place operator) writes container contents, since a list is extended in
  place; at a line event, a line whose in-place operators rebind names that hold immutable values
  (``int``, ``str``, ``tuple``...: exact types) counts them as the plain operators they are,
  provided the step loads each such name itself, nothing else on the line rebinds it and the line
  does not loop (``_CodeInfo.rest_of_line`` with a frame);
- what is not understood writes everything: imports, ``with`` on anything but a racelab
  primitive, async, class creation, ``getattr``/``setattr``/``vars``/``globals``, ``obj.__dict__``,
  a call whose callee is not identified as harmless (on 3.11 every call: ``sys.settrace`` does
  not show the callee), code of another file on the stack between the program's frames (the
  standard library running a callback), and racelab's own Python layer (its thread registry);
- calls (3.12+, ``sys.monitoring`` CALL events) are recorded as they happen: a function of the
  program's own files touches nothing itself (its lines are steps of their own), a racelab
  primitive records its own accesses, a pure builtin (``len``, ``print`` without keywords,
  ``range``, ...) reads container contents, a method of a list/dict/set/deque reads or writes
  container contents; a frame whose call is still running (a builtin calling back into the
  program) adds what every callee ever seen at that call site touches.

Hidden callers: an object that keeps a callable and calls it from C when an instruction goes
through it (``map``/``filter``/``iter(f, sentinel)``/``itertools.starmap``... over a builtin
method, ``for v in iter(stack.pop, None)``; a ``functools.cmp_to_key`` key, called by a
comparison; a ``defaultdict``, whose subscript inserts the factory's value; their subclasses) is
seen where it is made: a call event on 3.12+ (``functools.partial`` looked through; a maker
called from C, ``map(iter, fs)``, makes callers that may touch anything), a callee loaded by name
on 3.11 (arguments not seen: such a maker touches anything), and on 3.11 any call whose callee is
not found, or a store of ``default_factory``, may make one that touches anything
(``MAKES_HIDDEN``); so is a ``property`` over a builtin method; ``setattr``, ``__init__``,
``__setstate__`` on such an object, or a store of ``default_factory``/``__code__``/``fget``...,
may change what one keeps (anything, from then on). What they may touch joins the run's
``Callees.hidden``, and the instructions that may go through one (``for``, unpacking, ``in``,
``*xs``, subscripts and slices, operators, comparisons, attribute loads; calls of builtins and
container methods, whose arguments may be such objects) add it when their step runs
(``HIDDEN``); a container method called with keywords (``xs.sort(key=f)``), a mapping pattern
of ``match`` (it calls the subject's ``get``) and ``print`` into a ``sys.stdout`` that is not a
plain stream or racelab's capture write everything; raising writes the exception's
``__traceback__`` and ``__context__``. A weak reference or finalizer runs its callback in
whatever step drops its referent: from the call that makes one, every step of the run writes
everything (``Callees.everywhere``).

Assumed (not checked): operators, attribute lookups, ``__missing__``/``__repr__``/``__eq__``
and other special methods of types defined outside the program's own files (stdlib descriptors,
dataclass-generated methods) touch no state shared between threads beyond the container contents
the instruction already counts, and so do builtin bound methods a class of the program's uses as
a special method (``__hash__ = items.pop``); a dict obtained from ``globals()``/``vars()``/
``f.__globals__`` (instructions that write everything themselves) is not later used to write
variables; protocol methods C code looks up on an object of the program's (``keys`` for
``dict.update(obj)`` and ``{**obj}``, ``__getitem__``) are the program's functions, not builtin
callables set on the instance; a hidden caller or a weak reference is made by the program's own code during the
run (one made before the check, or by library code, or on 3.12 by a callable not identified
such as ``operator.methodcaller``, is not seen); what threads print is
output, not state (two prints may be explored in one order only).
"""

import bisect
import builtins
import collections
import dis
import functools
import inspect
import io
import itertools
import sys
import types
import weakref

BUCKETS = 63
ALL = 1 << (2 * BUCKETS)
#: A marker, never passed to the engine: the step runs an instruction through which code of C
#: may call what a hidden caller holds (``Callees.hidden``): iterating an iterator ``map`` made
#: over a builtin method, subscripting a ``defaultdict``. The tracer replaces it, when the step
#: runs, by what the run's hidden callers touch.
HIDDEN = 1 << (2 * BUCKETS + 1)
#: A marker, never passed to the engine: the step may make a hidden caller racelab cannot name
#: (3.11: a call whose callee is not found; ``d.default_factory = ...``): once it runs, the
#: run's hidden callers may touch anything.
MAKES_HIDDEN = 1 << (2 * BUCKETS + 2)
#: The markers.
MARKERS = HIDDEN | MAKES_HIDDEN
MONITORING = sys.version_info >= (3, 12)


def _fnv1a(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


_BUCKET_OF = {}


def _bucket(key):
    b = _BUCKET_OF.get(key)
    if b is None:
        b = _BUCKET_OF[key] = _fnv1a(key) % BUCKETS
    return b


def reads(key):
    return 1 << _bucket(key)


def writes(key):
    return 1 << (BUCKETS + _bucket(key))


READ_CONTENTS = reads("[]")
WRITE_CONTENTS = writes("[]")

# ----- instructions -----

_NOTHING = frozenset("""
    NOP RESUME CACHE EXTENDED_ARG POP_TOP PUSH_NULL COPY SWAP END_FOR END_SEND POP_ITER NOT_TAKEN
    LOAD_CONST RETURN_CONST LOAD_SMALL_INT RETURN_VALUE YIELD_VALUE RETURN_GENERATOR
    LOAD_FAST LOAD_FAST_CHECK LOAD_FAST_AND_CLEAR LOAD_FAST_LOAD_FAST STORE_FAST STORE_FAST_LOAD_FAST
    STORE_FAST_STORE_FAST DELETE_FAST LOAD_CLOSURE MAKE_CELL COPY_FREE_VARS LOAD_LOCALS
    JUMP_FORWARD JUMP_BACKWARD JUMP_BACKWARD_NO_INTERRUPT JUMP JUMP_NO_INTERRUPT
    POP_JUMP_IF_NONE POP_JUMP_IF_NOT_NONE POP_JUMP_FORWARD_IF_NONE POP_JUMP_FORWARD_IF_NOT_NONE
    POP_JUMP_BACKWARD_IF_NONE POP_JUMP_BACKWARD_IF_NOT_NONE IS_OP
    BUILD_TUPLE BUILD_LIST BUILD_MAP BUILD_CONST_KEY_MAP BUILD_SLICE BUILD_STRING LIST_APPEND SET_ADD MAP_ADD
    LIST_TO_TUPLE MAKE_FUNCTION SET_FUNCTION_ATTRIBUTE KW_NAMES PRECALL LOAD_ASSERTION_ERROR
    PUSH_EXC_INFO POP_EXCEPT CHECK_EXC_MATCH UNARY_NEGATIVE UNARY_INVERT
""".split())

#: Instructions that go through an iterable, subscript a mapping or compare: they read
#: container contents, and run what a hidden caller holds (``HIDDEN``).
_ITERATES = frozenset("""
    BINARY_SUBSCR CONTAINS_OP GET_ITER FOR_ITER UNPACK_SEQUENCE UNPACK_EX LIST_EXTEND SET_UPDATE
    DICT_UPDATE DICT_MERGE COMPARE_OP BINARY_SLICE
""".split())

_READS_CONTENTS = frozenset("""
    TO_BOOL UNARY_NOT POP_JUMP_IF_TRUE POP_JUMP_IF_FALSE POP_JUMP_FORWARD_IF_TRUE POP_JUMP_FORWARD_IF_FALSE
    POP_JUMP_BACKWARD_IF_TRUE POP_JUMP_BACKWARD_IF_FALSE JUMP_IF_TRUE_OR_POP JUMP_IF_FALSE_OR_POP
    FORMAT_VALUE FORMAT_SIMPLE FORMAT_WITH_SPEC CONVERT_VALUE
    BUILD_SET GET_LEN MATCH_MAPPING MATCH_SEQUENCE
""".split())

_WRITES_CONTENTS = frozenset("STORE_SUBSCR DELETE_SUBSCR STORE_SLICE".split())

#: Raising an exception object writes its traceback and context, which another thread holding
#: the same object may read (the frames it leaves add to the traceback in the same step).
_RAISES = frozenset("RAISE_VARARGS RERAISE".split())

_READS_NAME = frozenset("""
    LOAD_GLOBAL LOAD_NAME LOAD_DEREF LOAD_CLASSDEREF LOAD_FROM_DICT_OR_DEREF LOAD_FROM_DICT_OR_GLOBALS
    LOAD_ATTR LOAD_METHOD LOAD_SUPER_ATTR
""".split())

_WRITES_NAME = frozenset("""
    STORE_GLOBAL STORE_NAME DELETE_GLOBAL DELETE_NAME STORE_DEREF DELETE_DEREF STORE_ATTR DELETE_ATTR
""".split())

#: Calls: on 3.12+ the CALL event records the callee's footprint when the call happens.
CALLS = frozenset("CALL CALL_FUNCTION_EX CALL_KW".split())

_HARMLESS_INTRINSICS = frozenset(
    "INTRINSIC_LIST_TO_TUPLE INTRINSIC_UNARY_POSITIVE INTRINSIC_STOPITERATION_ERROR".split())

#: Attributes through which a name is written under another key (a variable through its cell, a
#: module's globals through a function, what a method call finds through the class): the
#: instruction writes everything.
_NAME_OF_NAME_OP = {"__dict__", "cell_contents", "__globals__", "f_globals", "f_locals", "__class__",
                    "__bases__", "__builtins__"}


def _name_key(name):
    return "n:" + name


_RAISE_WRITES = 0
for _attribute in ("__traceback__", "__context__", "__cause__", "__suppress_context__"):
    _RAISE_WRITES |= writes(_name_key(_attribute))

#: Attributes through which a hidden caller's callable changes after it was made (what the
#: caller touches was worked out from the callable it was made with).
_KEPT_CALLABLES = frozenset(["default_factory", "__code__", "__call__", "fget", "fset", "fdel"])


def instruction_footprint(ins):
    """The footprint of one instruction (``dis.Instruction``), calls aside (see ``CALLS``)."""
    op = ins.opname
    if op in _NOTHING:
        return 0
    if op in _ITERATES:
        return READ_CONTENTS | HIDDEN
    if op in _RAISES:
        return _RAISE_WRITES
    if op in _READS_CONTENTS:
        return READ_CONTENTS
    if op in _WRITES_CONTENTS:
        return WRITE_CONTENTS
    if op == "BINARY_OP":
        # ``x += y`` may change a list in place; other operators read container contents (3.14's
        # subscript ``[]`` is one, and may run a hidden caller).
        # Any of them may go through a hidden caller: ``xs += it``, ``"%(k)s" % dd``.
        if "=" in (ins.argrepr or ""):
            return WRITE_CONTENTS | HIDDEN
        return READ_CONTENTS | HIDDEN
    if op in _READS_NAME or op in _WRITES_NAME:
        name = ins.argval if isinstance(ins.argval, str) else None
        if name is None or name in _NAME_OF_NAME_OP:
            return ALL
        if name in _KEPT_CALLABLES and op in _WRITES_NAME:
            return ALL | MAKES_HIDDEN  # a callable a hidden caller keeps, changed
        if op in ("LOAD_ATTR", "LOAD_METHOD"):
            # (A ``property`` whose getter is a builtin method is a hidden caller.)
            return reads(_name_key(name)) | HIDDEN
        return (writes if op in _WRITES_NAME else reads)(_name_key(name))
    if op in CALLS:
        # 3.12+ tells a call's callee in its CALL event, but not ``f(*args)``'s when the callee
        # is a Python function (a library's ``Counter.update`` would run unseen). On 3.11 a
        # callee not found may make a hidden caller (``Callees.resolve``).
        if MONITORING:
            return 0 if op != "CALL_FUNCTION_EX" else ALL
        return ALL | MAKES_HIDDEN
    if op == "CALL_INTRINSIC_1" and ins.argrepr in _HARMLESS_INTRINSICS:
        return 0
    return ALL


class _CodeInfo:
    """Per code object: its instructions by offset, their lines, successors within the code."""

    __slots__ = ("by_offset", "offsets", "line_of", "succ", "fp", "reach", "inplace_name", "immutable_reach",
                 "callee_of", "after")

    def __init__(self, code):
        instructions = list(dis.get_instructions(code))
        self.by_offset = {i.offset: i for i in instructions}
        self.offsets = [i.offset for i in instructions]
        self.line_of = {}
        self.fp = {}
        self.reach = {}
        self.after = {}
        self.immutable_reach = {}
        self.succ = {}
        # ``name += ...``: the in-place operator's offset -> the name it rebinds.
        self.inplace_name = {}
        # 3.11: a call's offset -> how to find its callee at a line event (``_callee_pattern``).
        self.callee_of = {}
        handlers = []
        try:
            handlers = [(e.start, e.end, e.target) for e in dis.Bytecode(code).exception_entries]
        except AttributeError:  # pragma: no cover - every supported version has them
            handlers = None
        for n, ins in enumerate(instructions):
            line = ins.positions.lineno if ins.positions is not None else None
            self.line_of[ins.offset] = line
            self.fp[ins.offset] = instruction_footprint(ins)
            if ins.opname == "BINARY_OP" and "=" in (ins.argrepr or "") and n + 1 < len(instructions):
                store = instructions[n + 1]
                if store.opname in _STORES_OF_A_NAME and isinstance(store.argval, str):
                    self.inplace_name[ins.offset] = (store.opname, store.argval)
            nxt = []
            op = ins.opname
            ends = op in ("RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE") or op.startswith("JUMP") and \
                "IF" not in op and "OR_POP" not in op
            if not ends and n + 1 < len(instructions):
                nxt.append(instructions[n + 1].offset)
            target = getattr(ins, "jump_target", None)
            if target is None and ins.opcode in dis.hasjabs + dis.hasjrel:
                target = ins.argval
            if isinstance(target, int):
                nxt.append(target)
            if handlers is None:
                nxt.extend(i.offset for i in instructions)
            else:
                nxt.extend(t for s, e, t in handlers if s <= ins.offset < e)
            self.succ[ins.offset] = nxt
        if not MONITORING:
            for n, ins in enumerate(instructions):
                if ins.opname == "CALL":
                    pattern = _callee_pattern(instructions, n)
                    if pattern is not None:
                        self.callee_of[ins.offset] = pattern

    def instruction_at(self, lasti):
        """The offset of the instruction a frame's ``f_lasti`` is in (3.12 may point into the
        inline caches that follow an instruction)."""
        n = bisect.bisect_right(self.offsets, lasti)
        return self.offsets[n - 1] if n else None

    def rest_of_line(self, offset, frame=None, callees=None):
        """Everything the code can run from ``offset`` without a new line event: instructions on
        ``offset``'s line (or on no line), following jumps and exception handlers.

        ``frame``, given when a step starts at ``offset`` (a line event of that frame): the
        in-place operators of ``name += ...`` on the line count as the plain operators they are
        when ``name`` holds an immutable value now (``total += i`` on an ``int`` changes no
        container), provided nothing else on the line rebinds ``name`` and the line does not
        loop, so the value the operator gets is the one the frame holds now. On 3.11, with
        ``callees``, a call whose callee the line loads by name (``len(x)``, ``f(x)``,
        ``items.append(x)``, ``module.f(x)``) counts what that callee touches (``Callees``), found
        from the frame now, on the same conditions (the names loaded in the step, never rebound
        in it); ``sys.settrace`` does not show callees, so every other call writes everything."""
        got = self.reach.get(offset)
        if got is None:
            got = self._reach(offset)
        if frame is None:
            return got
        narrowed = self.immutable_reach.get(offset)
        if narrowed is None:
            return got
        base, inplace, calls = narrowed
        fp = base
        for kind, name in inplace:
            fp |= READ_CONTENTS if _holds_immutable(frame, kind, name) else WRITE_CONTENTS | HIDDEN
        for pattern in calls:
            fp |= ALL if callees is None else _callee_footprint(frame, pattern, callees)
            if fp & ALL:
                return got
        return fp

    def rest_after(self, offset):
        """What the code can run after the instruction at ``offset`` (a call the frame is
        stopped in) without a new line event: ``rest_of_line`` from its successors, on its line."""
        got = self.after.get(offset)
        if got is not None:
            return got
        line = self.line_of.get(offset)
        fp, _, _ = self._walk(self.succ.get(offset, ()), line)
        if line is None:
            fp = ALL
        self.after[offset] = fp
        return fp

    def _walk(self, starts, line, start=None):
        """The instructions the code can run from ``starts`` without a line event: those on
        ``line`` or on no line (``start``, the step's first, whatever its line). Returns their
        footprint, the offsets visited (with the first ones of other lines, not counted) and
        whether a jump goes back within the line (the line loops)."""
        fp = 0
        seen = set()
        todo = list(starts)
        loops = False
        while todo:
            o = todo.pop()
            if o in seen or o not in self.by_offset:
                continue
            seen.add(o)
            ln = self.line_of[o]
            if o != start and ln is not None and ln != line:
                continue  # another line: a line event, a step of its own
            fp |= self.fp[o]
            for t in self.succ[o]:
                loops |= t <= o and self.line_of.get(t) in (line, None)
            todo.extend(self.succ[o])
        return fp, seen, loops

    def _reach(self, offset):
        line = self.line_of.get(offset)
        fp, seen, loops = self._walk([offset], line, start=offset)
        if line is None:
            fp = ALL  # not placed on a line: nothing to bound it by
        self.reach[offset] = fp
        if not loops and line is not None:
            self._narrow(offset, [o for o in seen if o == offset or self.line_of[o] in (line, None)], fp)
        return fp

    def _narrow(self, offset, step, fp):
        """What ``rest_of_line`` reads at a line event: the footprint from ``offset`` without its
        ``name += ...`` operators and its calls of known shape (``base``), and those to add back
        as the frame finds them: in-place operators whose name the step itself loads before the
        operator (the operand is not a value an earlier step left on the stack) and rebinds only
        by the operator's own store; calls whose callee's names the step loads and never
        rebinds."""
        inplace = [o for o in step if o in self.inplace_name]
        calls = [o for o in step if o in self.callee_of]
        if not inplace and not calls:
            return
        stores = collections.Counter()
        loads = {}
        for o in step:
            ins = self.by_offset[o]
            names = _names_stored(ins)
            if names is None:
                return  # a store of a name not known: anything may be rebound
            stores.update(names)
            if ins.opname in _LOADS_A_VARIABLE:
                for name in ins.argval if isinstance(ins.argval, tuple) else (ins.argval,):
                    if isinstance(name, str):
                        loads[name] = min(o, loads.get(name, o))
        targets = set()
        for o in inplace:
            kind, name = self.inplace_name[o]
            if stores[name] != 1 or loads.get(name, o) >= o:
                inplace = []  # the static footprint for every one of them
                break
            targets.add((kind, name))
        known_calls = []
        for o in calls:
            pattern = self.callee_of[o]
            load, name, attribute = pattern[2], pattern[4], pattern[5]
            # The name, and a method's attribute (``o.m = f`` before ``o.m()``), bound nowhere on
            # the line.
            if load in step and stores[name] == 0 and (attribute is None or stores[attribute] == 0):
                known_calls.append(o)
        narrowed_ops = set(inplace) | set(known_calls)
        base = 0
        for o in step:
            if o not in narrowed_ops:
                base |= self.fp[o]
        if base & ALL or not narrowed_ops:
            return
        self.immutable_reach[offset] = (base, tuple(sorted(targets)),
                                        tuple(self.callee_of[o] for o in sorted(known_calls)))


#: The stores that end ``name += ...`` for a plain name (not an attribute or an item).
_STORES_OF_A_NAME = frozenset("STORE_FAST STORE_GLOBAL STORE_NAME STORE_DEREF".split())

#: Instructions that bind or unbind names (``argval`` a name, or a pair of names in 3.13's
#: superinstructions).
_BINDS_NAMES = _WRITES_NAME | frozenset("""
    STORE_FAST DELETE_FAST STORE_FAST_LOAD_FAST STORE_FAST_STORE_FAST LOAD_FAST_AND_CLEAR IMPORT_FROM
""".split())

#: Instructions that read variables (not attributes), by name.
_LOADS_A_VARIABLE = frozenset("""
    LOAD_FAST LOAD_FAST_CHECK LOAD_FAST_LOAD_FAST LOAD_FAST_AND_CLEAR LOAD_GLOBAL LOAD_NAME LOAD_DEREF
    LOAD_CLASSDEREF LOAD_FROM_DICT_OR_DEREF LOAD_FROM_DICT_OR_GLOBALS
""".split())

#: Values no in-place operator changes: ``x += y`` on them makes a new value (exact types: a
#: subclass may define ``__iadd__``).
_IMMUTABLE = frozenset([int, float, complex, bool, str, bytes, tuple, frozenset, type(None), range])


def _names_stored(ins):
    """The names ``ins`` binds or unbinds; ``None`` if it binds one it does not name."""
    if ins.opname not in _BINDS_NAMES:
        return ()
    if isinstance(ins.argval, str):
        return (ins.argval,)
    if isinstance(ins.argval, tuple) and all(isinstance(n, str) for n in ins.argval):
        return ins.argval
    return None


def _callee_pattern(instructions, n):
    """3.11: how the callee of the ``CALL`` at ``instructions[n]`` is loaded, if by a name:
    ``(form, call offset, load offset, load opname, name, attribute, keyword offset)`` with form
    ``global`` (``LOAD_GLOBAL (NULL + f)``), ``variable`` (``PUSH_NULL``, then a load of ``f``)
    or ``method`` (a load of ``x``, then ``LOAD_METHOD m``); ``None`` for any other shape.
    Straight-line code only (no jump between the callee's load and the call): the arguments are
    the instructions after the load that leave ``argc`` values on it and never take anything
    from below them (an inner call's callee would: ``items.copy().pop()`` is not ``copy``'s)."""
    call = instructions[n]
    if n < 1 or instructions[n - 1].opname != "PRECALL" or call.arg is None:
        return None
    precall = instructions[n - 1]

    def effect(ins):
        return dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None)

    for k in range(n - 2, -1, -1):
        ins = instructions[k]
        if "JUMP" in ins.opname or ins.opname in ("RETURN_VALUE", "FOR_ITER", "SEND"):
            return None
        pair = _callee_pair(instructions, k, n)
        if pair is None:
            if ins.is_jump_target:
                return None  # code may come in here: no straight line back from the call
            continue
        form, load, args_from = pair
        # The arguments: from ``args_from`` to the PRECALL, never below where they start, and
        # ``argc`` values at the end.
        depth = 0
        for a in instructions[args_from:n - 1]:
            pushes = _pushes(a)
            if pushes is None or pushes - effect(a) > depth:
                break  # it takes a value from below the arguments (or may: not straight-line)
            depth += effect(a)
        else:
            if depth == call.arg and not any(a.is_jump_target for a in instructions[k + 1:n]):
                attribute = instructions[k + 1].argval if form == "method" else None
                return (form, call.offset, load.offset, load.opname, load.argval, attribute, precall.offset)
    return None


def _pushes(ins):
    """How many values ``ins`` pushes (so it pops that many less its stack effect), at most:
    ``None`` for instructions that reach deeper than they push (``SWAP``, ``COPY``) or push
    several (``UNPACK_SEQUENCE``), which no argument list needs here."""
    op = ins.opname
    if op in ("LOAD_METHOD", "BEFORE_WITH") or op == "LOAD_GLOBAL" and (ins.arg or 0) & 1:
        return 2
    if op.startswith(("STORE_", "DELETE_")) or op in _PUSH_NOTHING:
        return 0
    if op in ("SWAP", "COPY") or op.startswith("UNPACK_"):
        return None
    return 1


_PUSH_NOTHING = frozenset("""
    POP_TOP PRECALL KW_NAMES NOP RESUME EXTENDED_ARG CACHE PRINT_EXPR POP_EXCEPT RERAISE RAISE_VARARGS
    RETURN_VALUE LIST_APPEND SET_ADD MAP_ADD LIST_EXTEND SET_UPDATE DICT_UPDATE DICT_MERGE
""".split())


def _callee_pair(instructions, k, n):
    """Whether the callee of a call (with what its arguments start after) is loaded at
    ``instructions[k]``: ``(form, the load of the name, the index the arguments start at)``."""
    first = instructions[k]
    after = instructions[k + 1] if k + 1 < n - 1 else None
    null_global = first.opname == "LOAD_GLOBAL" and bool((first.arg or 0) & 1)
    if null_global and isinstance(first.argval, str):
        return ("global", first, k + 1)
    if after is None or not isinstance(after.argval, str):
        return None
    if first.opname == "PUSH_NULL" and after.opname in _CALLEE_LOADS \
            and not (after.opname == "LOAD_GLOBAL" and (after.arg or 0) & 1):
        return ("variable", after, k + 2)
    if first.opname in _CALLEE_LOADS and not null_global and after.opname == "LOAD_METHOD" \
            and isinstance(first.argval, str):
        return ("method", first, k + 2)
    return None


#: Loads of a variable a callee (or a method's owner) is taken from, on 3.11.
_CALLEE_LOADS = frozenset("LOAD_FAST LOAD_GLOBAL LOAD_NAME LOAD_DEREF".split())


def _variable(frame, load, name):
    """The value ``load`` of ``name`` finds in ``frame`` now (``_MISSING`` if none)."""
    if load in ("LOAD_FAST", "LOAD_DEREF"):
        spaces = (frame.f_locals,)
    elif load == "LOAD_GLOBAL":
        spaces = (frame.f_globals, frame.f_builtins)
    else:
        spaces = (frame.f_locals, frame.f_globals, frame.f_builtins)
    for space in spaces:
        try:
            return space[name]
        except KeyError:
            continue
    return _MISSING


_MISSING = object()

#: The first argument of a call whose arguments are not seen (3.11's line events).
UNKNOWN = object()

#: A class without a ``__dict__`` entry of its own reads as one with the usual descriptor.
_DICT_SLOT = type.__dict__["__dict__"]


def _callee_footprint(frame, pattern, callees):
    """What the call of ``pattern`` (``_callee_pattern``) touches, its callee found in ``frame``:
    ``ALL`` when the callee is not one ``Callees`` knows, or finding it could run code."""
    form, _call, _load, load, name, attribute, keywords_at = pattern
    value = _variable(frame, load, name)
    if value is _MISSING:
        return ALL
    if form == "method":
        owner = value
        if type(owner) in _CONTAINERS or type(owner) in callees.racelab_types:
            value = getattr(owner, attribute, _MISSING)  # a builtin type's or racelab's: no code of the program
        elif type(owner) is types.ModuleType:
            value = owner.__dict__.get(attribute, _MISSING)
        else:
            # Found as the lookup would find it, without running any code (a property or
            # ``__getattr__`` of the program's, a metaclass's): only a plain function of a class
            # whose lookup is object's counts.
            cls = type(owner)
            if type(cls) is not type or any(
                    "__getattr__" in b.__dict__ or "__getattribute__" in b.__dict__ and b is not object
                    or type(b.__dict__.get("__dict__", _DICT_SLOT)) is not types.GetSetDescriptorType
                    for b in cls.__mro__):
                return ALL
            found = inspect.getattr_static(owner, attribute, _MISSING)
            if isinstance(found, staticmethod):
                value = found.__func__
            elif isinstance(found, types.FunctionType) and attribute not in getattr(owner, "__dict__", {}):
                value = types.MethodType(found, owner)
            else:
                return ALL
        if value is _MISSING:
            return ALL
    return callees.footprint(value, UNKNOWN, frame.f_code, keywords_at)


def _holds_immutable(frame, kind, name):
    """Whether ``name`` (rebound by ``kind``, a ``STORE_*``) holds a value of an immutable type in
    ``frame``: the value the matching ``LOAD_*`` finds."""
    return type(_variable(frame, "LOAD_" + kind[len("STORE_"):], name)) in _IMMUTABLE


_INFO = {}


def code_info(code):
    info = _INFO.get(code)
    if info is None:
        info = _INFO[code] = _CodeInfo(code)
    return info


# ----- callees (3.12+: sys.monitoring CALL events) -----

_CONTAINERS = (list, dict, set, collections.deque, bytearray, collections.OrderedDict)
_CONTAINER_READS = frozenset("""
    get keys values items copy count index __len__ __getitem__ __contains__ __iter__ __reversed__
    issubset issuperset isdisjoint union intersection difference symmetric_difference
""".split())

#: Builtins that touch at most the contents of containers passed to them (their special methods
#: of the program's own classes run as steps of their own).
_PURE_BUILTINS = {}
for _name in """len print sorted list tuple set frozenset dict sum min max any all enumerate zip
        reversed str repr format int float bool abs round divmod pow hash iter next map filter
        chr ord bin hex oct ascii callable""".split():
    # (An argument may be a hidden caller: ``bytes(iter(stack.pop, 0))``.)
    _PURE_BUILTINS[getattr(builtins, _name)] = READ_CONTENTS | HIDDEN
for _name in "range isinstance issubclass id type object".split():
    _PURE_BUILTINS[getattr(builtins, _name)] = 0
_PURE_BUILTINS[collections.deque] = READ_CONTENTS | HIDDEN
_PURE_BUILTINS[collections.OrderedDict] = READ_CONTENTS | HIDDEN

#: What a method of an immutable builtin type (``str``, ``bytes``, ``int``, ``tuple``,
#: ``frozenset``...; not of a subclass) touches: nothing a thread can change in its receiver, and
#: what the pure builtins touch in its arguments (``__eq__`` of the program's classes, which
#: ``tuple.index`` calls, runs as steps of its own). Called with a receiver of another type
#: (``str.strip(5)``) it only raises ``TypeError``.
_IMMUTABLE_METHOD = READ_CONTENTS | HIDDEN
#: ... except those that go through an iterable, a mapping or the items and attributes a format
#: names, which may be anything's (``"{0[k]}".format(a_defaultdict)`` inserts): anything, as before.
_GOES_THROUGH_ITS_ARGUMENTS = frozenset("""join format format_map union intersection difference
    symmetric_difference issubset issuperset isdisjoint""".split())

#: Builtins that go through an iterable they are given (or call a ``key``): pure only over a
#: container's own items, or a generator of the program's (whose code runs as steps). An
#: iterator such as ``map(items.append, xs)`` calls what it was given from C, where no
#: scheduling point and no event sees it.
_CONSUMERS = frozenset([list, tuple, set, frozenset, dict, sum, min, max, any, all, sorted, next,
                        collections.deque, collections.OrderedDict])
_CONTAINER_TYPES = frozenset([list, tuple, set, frozenset, dict, str, bytes, bytearray, range,
                              collections.deque, collections.OrderedDict, type({}.keys()),
                              type({}.values()), type({}.items())])


#: Makers of hidden callers (``HIDDEN``): objects that keep a callable given as the first
#: argument and call it from C when an instruction goes through them later (classes: their
#: subclasses too).
_CALL_THEIR_FIRST_ARGUMENT = (map, filter, itertools.starmap, itertools.filterfalse, itertools.takewhile,
                              itertools.dropwhile)
_CALL_THEIR_FIRST_ARGUMENT_TOO = frozenset([functools.cmp_to_key])
#: Methods of C objects that change what they keep (``partial.__setstate__``, re-running a
#: ``defaultdict``'s ``__init__``), and builtins that set attributes from C.
_REKEEPING_METHODS = frozenset(["__init__", "__setstate__", "__setattr__", "__delattr__", "__set__",
                                "__delete__", "setter", "getter", "deleter"])
_SETTERS = frozenset([setattr, delattr, object.__setattr__, object.__delattr__])
#: ... and those whose callable may be another argument (or a keyword): anything.
_CALL_ANY_ARGUMENT = (itertools.accumulate, itertools.groupby)
#: Weak references and finalizers run a callback from C in whatever step drops their referent's
#: last reference (or collects a cycle): a run that makes one writes everything from then on.
_WEAK = (weakref.ref, weakref.finalize, weakref.WeakMethod, weakref.KeyedRef, weakref.WeakValueDictionary,
         weakref.WeakKeyDictionary, weakref.WeakSet)
_WEAK_TOO = frozenset([weakref.proxy])
#: Every maker (``Callees._called``: a maker called from C makes a caller no event sees).
_MAKERS = _CALL_THEIR_FIRST_ARGUMENT + _CALL_ANY_ARGUMENT + _WEAK + (collections.defaultdict, property)
#: Objects that keep a callable they may be given again later.
_KEEPERS = _CALL_THEIR_FIRST_ARGUMENT + _CALL_ANY_ARGUMENT + (collections.defaultdict, functools.partial, property)
#: The types of builtin methods: a C object's own (``p.__setstate__``), a slot's on an instance
#: (``d.__init__``) or on the type (``defaultdict.__init__``).
_C_METHOD_TYPES = (types.BuiltinMethodType, types.MethodWrapperType, types.WrapperDescriptorType,
                   types.MethodDescriptorType)


def _calls_with_keywords(code, offset):
    if code is None:
        return True  # a callable called from C (``map``'s), its arguments not seen
    info = code_info(code)
    ins = info.by_offset.get(offset)
    if ins is None or ins.opname in ("CALL_KW", "CALL_FUNCTION_EX"):
        return True
    prev = max((o for o in info.by_offset if o < offset), default=None)
    return prev is not None and info.by_offset[prev].opname == "KW_NAMES"


class Callees:
    """Classifies callees (3.12+). ``files``: the program's own files; ``racelab_types``: the
    primitives' classes (their methods record their own accesses); ``known``: code objects of
    racelab's Python layer with what a call of them touches before its first scheduling point."""

    def __init__(self, files, racelab_types, known):
        self.files = files
        self.racelab_types = tuple(racelab_types)
        self.known = known
        self.at_site = {}
        # What the run's hidden callers touch, for the steps that may go through one (``HIDDEN``),
        # and what every step of the run touches from then on (weak references' callbacks).
        self.hidden = 0
        self.everywhere = 0
        # Streams ``print`` writes output to, not state (the tracer adds its own capture).
        self.streams = {io.TextIOWrapper}

    def new_run(self):
        """What call sites have seen and the hidden callers made are the last run's."""
        self.at_site.clear()
        self.hidden = 0
        self.everywhere = 0

    def resolve(self, footprint):
        """``footprint`` for the engine: its ``HIDDEN`` marker replaced by what the run's hidden
        callers touch, and what every step now touches added; ``MAKES_HIDDEN``: from now on
        the hidden callers may touch anything."""
        if footprint & MAKES_HIDDEN:
            self.hidden = ALL
        if footprint & HIDDEN:
            footprint |= self.hidden
        return footprint & ~MARKERS | self.everywhere

    def _function(self, fn):
        code = getattr(fn, "__code__", None)
        if code is None:
            return ALL
        if code.co_filename in self.files:
            return 0
        return self.known.get(code, ALL)

    def _class(self, cls):
        pure = _PURE_BUILTINS.get(cls)
        if pure is not None:
            return pure
        if type(cls) is not type:
            return ALL  # a metaclass's __call__
        footprint = 0
        for base in cls.__mro__[:-1]:
            if base in self.racelab_types:
                continue
            if base.__module__ == "builtins":
                # A container's constructor goes through the iterable it is given, which may call
                # anything from C (``MyList(map(items.append, xs))``): see ``_CONSUMERS``.
                if any(issubclass(base, c) for c in _CONSUMERS if isinstance(c, type)):
                    return ALL
                footprint |= READ_CONTENTS | HIDDEN
                continue
            for attr in ("__new__", "__init__"):
                f = base.__dict__.get(attr)
                if f is not None:
                    footprint |= self._function(getattr(f, "__func__", f))
        return footprint

    def _method(self, owner, name):
        if type(owner) in _CONTAINERS:
            # (An argument may be a hidden caller: ``s.union(map(items.append, xs))``.)
            return (READ_CONTENTS if name in _CONTAINER_READS else WRITE_CONTENTS) | HIDDEN
        if isinstance(owner, self.racelab_types):
            return 0
        return ALL

    def footprint(self, callable_, arg0, code, offset):
        """What calling ``callable_`` (first argument ``arg0``, ``UNKNOWN`` if not seen) at
        ``code``/``offset`` touches before its callee's own steps. A call that makes a hidden
        caller (``map(items.append, xs)``, a ``defaultdict``) adds what that caller may touch to
        the run's ``hidden``, and to its own footprint (its step may go through the caller)."""
        made = self._hidden_made(callable_, arg0, code, offset)
        if made:
            self.hidden |= made & ~HIDDEN
            return self._direct(callable_, arg0, code, offset) | made
        return self._direct(callable_, arg0, code, offset)

    def _called(self, fn):
        """What ``fn`` touches when code of C calls it, its arguments not seen (a maker makes a
        hidden caller no event sees: anything)."""
        if fn is UNKNOWN:
            return ALL
        if fn is None:
            return READ_CONTENTS  # ``filter(None, xs)``: a truth test
        try:
            maker = fn in _CALL_THEIR_FIRST_ARGUMENT_TOO or fn in _WEAK_TOO or fn is iter \
                or isinstance(fn, type) and issubclass(fn, _MAKERS)
        except TypeError:  # unhashable
            maker = False
        if maker:
            self.hidden = ALL
            return ALL
        return self._direct(fn, UNKNOWN, None, None) & ~MARKERS

    def _hidden_made(self, callable_, arg0, code, offset):
        """What the hidden caller this call makes touches when it calls what it keeps (0 if it
        makes none); weak references set ``everywhere``."""
        if callable_ is iter:
            # ``iter(f, sentinel)`` calls ``f``; ``iter(xs)`` keeps no callable.
            if arg0 is UNKNOWN:
                ins = code_info(code).by_offset.get(offset) if code is not None else None
                return ALL if ins is None or ins.arg != 1 else 0
            return self._called(arg0) if callable(arg0) else 0
        try:
            first = callable_ in _CALL_THEIR_FIRST_ARGUMENT_TOO
            weak = callable_ in _WEAK_TOO
            setter = callable_ in _SETTERS
        except TypeError:  # unhashable
            return 0
        if setter:
            # ``setattr(d, "default_factory", f)`` may change what a hidden caller keeps.
            return ALL if isinstance(arg0, _KEEPERS) or arg0 is UNKNOWN else 0
        if type(callable_) in _C_METHOD_TYPES and getattr(callable_, "__name__", None) in _REKEEPING_METHODS:
            owner = getattr(callable_, "__self__", None)
            if type(owner) is type or owner is None or owner is builtins:
                owner = arg0  # ``defaultdict.__init__(d, f)``: the receiver is the first argument
            return ALL if isinstance(owner, _KEEPERS) or owner is UNKNOWN else 0
        if callable_ is property:
            ins = code_info(code).by_offset.get(offset) if code is not None else None
            one_argument = ins is not None and ins.opname == "CALL" and ins.arg == 1 \
                and not _calls_with_keywords(code, offset)
            return self._called(arg0) if one_argument else ALL
        if isinstance(callable_, type):
            first = first or issubclass(callable_, _CALL_THEIR_FIRST_ARGUMENT)
            weak = weak or issubclass(callable_, _WEAK)
            if issubclass(callable_, _CALL_ANY_ARGUMENT):
                return ALL
            if issubclass(callable_, collections.defaultdict):
                # A missing key inserts what the factory makes: a subscript writes the contents.
                # (A subclass's ``__init__`` may set any factory; ``d.default_factory = f``
                # later is ``MAKES_HIDDEN``.)
                if callable_ is not collections.defaultdict:
                    return ALL
                no_factory = arg0 is None or MONITORING and arg0 is sys.monitoring.MISSING
                return WRITE_CONTENTS | (0 if no_factory else self._called(arg0))
        if weak:
            self.everywhere = ALL
            return ALL
        return self._called(arg0) if first else 0

    def _direct(self, callable_, arg0, code, offset):
        try:
            consumer = callable_ in _CONSUMERS
        except TypeError:  # unhashable
            consumer = False
        if consumer:
            own_generator = isinstance(arg0, types.GeneratorType) and arg0.gi_code.co_filename in self.files
            if _calls_with_keywords(code, offset) or not (type(arg0) in _CONTAINER_TYPES or own_generator):
                return ALL
        t = type(callable_)
        if t is functools.partial:
            # What its function does with its arguments (keywords: a ``key=`` may be called).
            first = callable_.args[0] if callable_.args else arg0
            return self.footprint(callable_.func, first, None if callable_.keywords else code, offset)
        if t is types.FunctionType:
            return self._function(callable_)
        if t is types.MethodType:
            return self._function(callable_.__func__)
        if t is types.BuiltinFunctionType:
            owner = getattr(callable_, "__self__", None)
            if owner is builtins or owner is None:
                pure = _PURE_BUILTINS.get(callable_)
                if pure is None:
                    return ALL
                if callable_ is builtins.print and (_calls_with_keywords(code, offset)
                                                    or type(sys.stdout) not in self.streams):
                    return ALL  # ``file=``, or a ``sys.stdout`` of the program's, may be shared
                return pure
            if type(owner) in _IMMUTABLE and callable_.__name__ not in _GOES_THROUGH_ITS_ARGUMENTS:
                return _IMMUTABLE_METHOD  # ``line.split(sep=",")``
            if _calls_with_keywords(code, offset):
                return ALL  # ``xs.sort(key=f)`` calls ``f`` from C
            return self._method(owner, callable_.__name__)
        if t is types.MethodDescriptorType:
            if callable_.__objclass__ in _IMMUTABLE and callable_.__name__ not in _GOES_THROUGH_ITS_ARGUMENTS:
                return _IMMUTABLE_METHOD  # ``map(str.strip, lines)``: whatever the receiver is
            # ``items.append(x)``: the method loaded unbound, the receiver as first argument.
            if isinstance(arg0, callable_.__objclass__) and not _calls_with_keywords(code, offset):
                return self._method(arg0, callable_.__name__)
            return ALL
        if t is type:
            return self._class(callable_)
        return ALL

    def record(self, callable_, arg0, code, offset):
        """The footprint of this call; the site remembers it for frames still in the call."""
        footprint = self.footprint(callable_, arg0, code, offset)
        key = (code, offset)
        self.at_site[key] = self.at_site.get(key, 0) | footprint
        return footprint

    def in_call(self, code, offset):
        """A frame stopped in a call at ``offset``: what its callees there may still touch (what
        every callee seen at that site touches: a builtin calling back into the program goes on
        after the callback). On 3.11 the callee is not seen, and the names it was loaded by may
        have been rebound since (by its arguments, a callback, another thread while it
        blocked): everything."""
        if not MONITORING:
            return ALL
        return self.at_site.get((code, offset), ALL)
