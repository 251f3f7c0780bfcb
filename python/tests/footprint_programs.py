"""Small random threaded Python programs, for checking the reduced search (``dfs``) against the
plain one (``dfs-plain``): same set of outcomes, or the footprints of Python steps are unsound.

``program(seed, threads, statements)`` writes one to a file (so its code has a file of its own,
which the tracer puts scheduling points in) and returns ``(run, outcomes, source)``: ``run`` is
the program's main function, ``outcomes`` the list each run appends its final shared state to.
The statements mix globals, attributes of a shared object, a shared list and dict, closure
cells (``nonlocal``), a user function and a user generator called from threads, comprehensions,
and sometimes a Lock, an Event or a Condition.
"""

import os
import random
import tempfile

HEADER = '''\
import threading

OUT = []
g0 = 0
g1 = 0


class Box:
    pass


def bump(o, n):
    o.a += n


def push(items, v):
    items.append(v)
    return len(items)


def each(items):
    for x in list(items):
        yield x


def read_a(o):
    return o.a


def tick(o):
    yield 0; o.b = o.a + 1  # noqa: E702 - resumed mid-line: the rest of the line has no line event


def program():
    global g0, g1
    g0 = 0
    g1 = 0
    box = Box()
    box.a = 0
    box.b = 0
    items = []
    table = {}
    c = 0
    lock = threading.Lock()
    ev = threading.Event()
    cond = threading.Condition()
'''

# One statement: lines of a thread body (indented by the caller), and whether it needs nonlocal.
STATEMENTS = [
    ["g0 += 1"],
    ["g1 = g0 + 1"],
    ["box.a += 1"],
    ["box.b = box.a"],
    ["t = box.a", "box.a = t + 1"],
    ["items.append({v})"],
    ["if items:", "    items.pop()"],
    ["table['n'] = len(items)"],
    ["table['x'] = table.get('x', 0) + 1"],
    ["table['last'] = items[-1] if items else -1"],
    ["c += 1"],
    ["box.b = c"],
    ["bump(box, {v})"],
    ["table['p'] = push(items, {v})"],
    ["with lock:", "    box.a += 1"],
    ["with lock:", "    g0 = g0 + {v}"],
    ["ev.set()"],
    ["ev.wait(timeout=1)", "box.b = box.a"],
    ["with cond:", "    items.append({v})", "    cond.notify_all()"],
    ["with cond:", "    if not items:", "        cond.wait(timeout=1)", "    table['seen'] = len(items)"],
    ["table['s'] = sum(x for x in items)"],
    ["box.b = [x + 1 for x in items]"],
    ["for x in each(items):", "    table['e'] = table.get('e', 0) + x"],
    ["g1 = box.a", "box.a = g1 + {v}"],
    ["table.pop('x', None)"],
    ["v = table.get('x', 0)", "table['x'] = v + {v}"],
    ["v = g0", "g0 = v + 1"],
    ["k = len(items)", "table['k'] = k"],
    ["g1 = read_a(box)"],
    ["g0 = g1"],
    ["table['w'] = {v}"],
    ["box.b = {v}"],
    ["g1 = {v}"],
    ["for _ in tick(box):", "    pass"],
    ["del box.b", "box.b = 0"],
    # ``name += ...``: on an int it changes no container; on a list (shared or not) it does.
    ["acc = 0", "acc += {v}", "box.b = acc"],
    ["lst = items", "lst += [{v}]"],
    ["acc = items if box.a else 0", "acc += [{v}] if acc != 0 else {v}"],
]

#: Statements of a few bytecodes each, for ``opcode`` granularity (where every bytecode is a step).
SHORT = [s for s in STATEMENTS if len(s) == 1 and not any(w in s[0] for w in ("sum(", "[x", "wait", "if "))]

FOOTER = '''\
    ts = [threading.Thread(target=f) for f in ({threads})]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    OUT.append(repr((g0, g1, box.a, box.b, items, sorted(table.items()), c)))
'''

# The same with the threads started and joined in three lines (fewer scheduling points of the
# main thread's own between the threads').
FOOTER_QUIET = '''\
    {handles} = {threads_made}
    {starts}
    {joins}
    OUT.append(repr((g0, g1, box.a, box.b, items, sorted(table.items()), c)))
'''


# The threads started and joined by ``start_and_join`` (this file: no scheduling points, and its
# steps write everything), for ``opcode`` granularity where the main thread's own bytecodes would
# multiply the orders past what a plain search can enumerate.
FOOTER_HELPER = '''\
    from footprint_programs import start_and_join
    start_and_join(({threads}))
    OUT.append(repr((g0, g1, box.a, box.b, items, sorted(table.items()), c)))
'''


def start_and_join(targets):
    import threading

    ts = [threading.Thread(target=f) for f in targets]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def source(seed, threads=2, statements=(1, 3), quiet_main=False):
    rng = random.Random(seed)
    out = [HEADER]
    names = []
    # A few kinds of statement per program, so that threads often touch the same data.
    kinds = rng.sample(SHORT if quiet_main == "helper" else STATEMENTS, 6)
    for n in range(threads):
        body = []
        for _ in range(rng.randint(*statements)):
            lines = rng.choice(kinds)
            body.extend(line.format(v=rng.randint(1, 9)) for line in lines)
        name = f"t{n}"
        names.append(name)
        out.append(f"    def {name}():\n")
        if any("g0" in line or "g1" in line for line in body):
            out.append("        global g0, g1\n")
        if any("c +=" in line for line in body):
            out.append("        nonlocal c\n")
        out.extend(f"        {line}\n" for line in body)
        out.append("\n")
    if quiet_main == "helper":
        out.append(FOOTER_HELPER.format(threads="".join(f"{n}, " for n in names)))
    elif quiet_main:
        handles = [f"h{n}" for n in names]
        out.append(FOOTER_QUIET.format(
            handles=", ".join(handles), threads_made=", ".join(f"threading.Thread(target={n})" for n in names),
            starts="; ".join(f"{h}.start()" for h in handles), joins="; ".join(f"{h}.join()" for h in handles)))
    else:
        out.append(FOOTER.format(threads="".join(f"{n}, " for n in names)))
    return "".join(out)


_DIR = None


def program(seed, threads=2, statements=(1, 3), quiet_main=False):
    """The program of ``seed``: ``(run, outcomes, source)``."""
    global _DIR
    if _DIR is None:
        _DIR = tempfile.mkdtemp(prefix="racelab-footprints-")
    text = source(seed, threads, statements, quiet_main)
    path = os.path.join(_DIR, f"prog_{seed}_{threads}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    namespace = {"__name__": f"prog_{seed}", "__file__": path}
    exec(compile(text, path, "exec"), namespace)
    return namespace["program"], namespace["OUT"], text


def outcomes(run, out, strategy, granularity, cap):
    """The outcomes of every run of ``strategy`` (``None`` if it did not finish in ``cap`` runs):
    a set of final states, or ``("failed", kind, message)`` for a run that failed."""
    import racelab

    out.clear()
    report = racelab.check(run, strategy=strategy, granularity=granularity, runs=cap)
    if not report.passed:
        return {("failed", report.kind, report.failure and str(report.failure)[:200])}, report.runs
    if not report.exhausted:
        return None, report.runs
    return set(out), report.runs
