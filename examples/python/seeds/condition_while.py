# expect: pass --strategy random --runs 2000
# The fix of condition_if.py: re-check the condition in a `while` loop after every wake-up.
from threading import Thread, Condition
import time
import random

queue = []
MAX_NUM = 10
condition = Condition()

class ProducerThread(Thread):
    def run(self):
        nums = range(5)
        global queue
        for _ in range(3):
            condition.acquire()
            while len(queue) == MAX_NUM:
                print('queue is full')
                condition.wait()
                print('got notified, space in queue')
            num = random.choice(nums)
            queue.append(num)
            print('produced %s' % num)
            condition.notify()
            condition.release()
            time.sleep(random.random())

class ConsumerThread(Thread):
    def run(self):
        global queue
        for _ in range(3):
            condition.acquire()
            while not queue:
                print("Nothing in queue, consumer is waiting")
                condition.wait()
                print("Producer added something to queue and notified the consumer")
            num = queue.pop(0)
            print('consumed %s' % num)
            condition.notify()
            condition.release()
            time.sleep(random.random())


ProducerThread().start()
ConsumerThread().start()
