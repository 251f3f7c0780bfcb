"""The Python bounded buffer both tools run: a Condition, `while` re-checks, notify_all, 2 producers
x 2 items and 2 consumers x 2 items over a buffer of capacity 1. Correct: every run passes.

`setup`/`producer`/`consumer`/`invariant` are frontrun's shape; `main` starts the same workers as
threads for racelab."""

import threading

CAPACITY = 1
ITEMS = 2


class Buffer:
    def __init__(self):
        self.cond = threading.Condition()
        self.items = []
        self.taken = []


def setup():
    return Buffer()


def producer(b):
    for i in range(ITEMS):
        with b.cond:
            while len(b.items) >= CAPACITY:
                b.cond.wait()
            b.items.append(i)
            b.cond.notify_all()


def consumer(b):
    for _ in range(ITEMS):
        with b.cond:
            while not b.items:
                b.cond.wait()
            b.taken.append(b.items.pop(0))
            b.cond.notify_all()


def invariant(b):
    return sorted(b.taken) == sorted(list(range(ITEMS)) * 2) and not b.items


def main():
    b = setup()
    workers = [threading.Thread(target=f, args=(b,)) for f in (producer, producer, consumer, consumer)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert invariant(b), f"lost data: taken {b.taken}, left {b.items}"
