# `counter += 1` from two threads: a read, an add and a write, between which the other thread may
# run. racelab-py check counter.py --granularity opcode finds the lost update.
import threading

counter = 0

def worker():
    global counter
    for _ in range(2):
        counter += 1

threads = [threading.Thread(target=worker) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert counter == 4, f"lost update: counter is {counter}, expected 4"
