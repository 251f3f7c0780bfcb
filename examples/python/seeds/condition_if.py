# expect: bug spurious-wakeup --strategy random --runs 2000
# seed 004 (commented out there): Condition producer/consumer that checks with `if`, not `while`.
# Bounded: each `while True` makes three iterations; Python 3 names. Python allows a wait() to
# return without a notify (racelab allows one spurious wake-up per run): the consumer then pops
# from an empty list.
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
            if len(queue) == MAX_NUM:
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
            if not queue:
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
