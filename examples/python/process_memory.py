"""Processes do not share memory: a child starts with a copy of its parent's globals and
arguments (fork), and neither sees the other's later changes; only what goes through
multiprocessing (a Queue, a Value) is shared. racelab-py check passes it; so does CPython."""
import multiprocessing as mp
import threading
results = []
counter = 0
class Box:
    def __init__(self): self.n = 0
box = Box()

def child(q, items):
    global counter
    counter += 10
    box.n += 1
    items.append("child")
    results.append(counter)
    t = threading.Thread(target=lambda: results.append("thread in child"))
    t.start(); t.join()
    q.put((counter, box.n, list(items), list(results)))

if __name__ == "__main__":
    q = mp.Queue()
    items = ["parent"]
    counter = 1
    p = mp.Process(target=child, args=(q, items))
    p.start()
    counter += 100
    got = q.get()
    p.join()
    print("child saw", got, "parent has", counter, box.n, items, results)
    assert got == (11, 1, ["parent", "child"], [11, "thread in child"]), got
    assert (counter, box.n, items, results) == (101, 0, ["parent"], []), (counter, box.n, items, results)
    v = mp.Value('i', 0)
    def add(v):
        with v.get_lock():
            v.value += 1
    ps = [mp.Process(target=add, args=(v,)) for _ in range(3)]
    for x in ps: x.start()
    for x in ps: x.join()
    assert v.value == 3, v.value
