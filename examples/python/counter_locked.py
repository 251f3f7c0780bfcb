# counter.py with a Lock around the read-modify-write: no update is lost.
import threading

counter = 0
lock = threading.Lock()

def worker():
    global counter
    for _ in range(2):
        with lock:
            counter += 1

threads = [threading.Thread(target=worker) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert counter == 4, f"lost update: counter is {counter}, expected 4"
