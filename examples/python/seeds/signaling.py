# expect: pass --strategy random --runs 300
# seed 004, "## signaling between threads": the Lock, RLock, with, Condition (while and wait_for)
# and Event snippets, made into one program (the seed's an_item_is_available and
# get_an_available_item are a list; one producer, one consumer).
import logging
import threading

lock = threading.Lock()
lock.acquire(blocking=True, timeout=-1)
lock.release()

rlock = threading.RLock()
rlock.acquire(blocking=True, timeout=-1)
rlock.acquire()
rlock.release()
rlock.release()

def worker_with(lock):
    with lock:
        logging.debug('Lock acquired via with')

def worker_no_with(lock):
    lock.acquire()
    try:
        logging.debug('Lock acquired directly')
    finally:
        lock.release()

items = []
def an_item_is_available():
    return bool(items)
def get_an_available_item():
    return items.pop()
def make_an_item_available():
    items.append("item")

cv = threading.Condition()

def consume():
    with cv:
        while not an_item_is_available():
            cv.wait()
        get_an_available_item()
    with cv:
        cv.wait_for(an_item_is_available)
        get_an_available_item()

def produce():
    for _ in range(2):
        with cv:
            make_an_item_available()
            cv.notify()

threads = [threading.Thread(target=f, args=a) for f, a in
           ((worker_with, (lock,)), (worker_no_with, (lock,)), (consume, ()), (produce, ()))]
for t in threads: t.start()
for t in threads: t.join()

e = threading.Event()
assert not e.is_set()
e.set()
e.clear()
assert e.wait(timeout=2) is False
