# expect: pass --strategy dfs
# seed 000, "condition": the consumer/producer sketch, completed (one item, one producer, one
# consumer); the consumer re-checks in a loop, so it is correct.
import threading

resource = []
condition = threading.Condition()

def producer():
    item = "item"                   # ... generate item
    condition.acquire()
    resource.append(item)           # ... add item to resource
    condition.notify()              # signal that a new item is available
    condition.release()

def consumer():
    condition.acquire()
    while True:
        item = resource.pop() if resource else None   # ... get item from resource
        if item:
            break
        condition.wait()            # sleep until item becomes available
    condition.release()
    print("consumed", item)         # ... process item

c = threading.Thread(target=consumer)
p = threading.Thread(target=producer)
c.start(); p.start()
c.join(); p.join()
