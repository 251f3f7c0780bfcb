# expect: pass --strategy random --runs 500
# seed 004 (commented out there): producer/consumer over queue.Queue(10) with task_done. Python 3
# names (`queue`, print()); each `while True` makes three iterations.
from threading import Thread
import time
import random
from queue import Queue

queue = Queue(10)

class ProducerThread(Thread):
    def run(self):
        nums = range(5)
        global queue
        for _ in range(3):
            num = random.choice(nums)
            queue.put(num)
            print("Produced", num)
            time.sleep(random.random())

class ConsumerThread(Thread):
    def run(self):
        global queue
        for _ in range(3):
            num = queue.get()
            queue.task_done()
            print("Consumed", num)
            time.sleep(random.random())

ProducerThread().start()
ConsumerThread().start()
