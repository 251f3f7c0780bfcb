# expect: pass --strategy dfs --granularity sync
# The fix of event_consumers_checked.py (the catalog's `event-consumers/queue`): a Queue hands
# each item to exactly one consumer.
import queue
import random
import threading
import time

q = queue.Queue()
consumed = []

def consumer():
    while 1:
        integer = q.get()
        consumed.append(integer)
        q.task_done()

def producer():
    for _ in range(3):
        q.put(random.choice(range(5)))
        time.sleep(1)

for name in ('consumer1', 'consumer2'):
    threading.Thread(name=name, target=consumer, daemon=True).start()
p = threading.Thread(name='producer1', target=producer)
p.start()
p.join()
q.join()
assert len(consumed) == 3, f"lost data: {consumed}"
