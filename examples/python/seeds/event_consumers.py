# expect: bug lost-wakeup --strategy random --runs 300
# seed 004: the Event producer/consumer with two consumers, as written except that the producer's
# `while 1` makes three items. The consumers' `while 1` stays, and main joins them as the seed
# does: once the items are gone both consumers wait for a set() that never comes, and the program
# never ends (a deadlock, which racelab diagnoses as the lost wake-up of the last clear()).
from threading import Thread, Condition
import time
import random
import threading


def consumer(event, l):
    t = threading.current_thread()
    while 1:
        event_is_set = event.wait()
        if event_is_set:
            try:
                integer = l.pop()
                print('{} popped from list by {}'.format(integer, t.name))
                event.clear()  # 重置事件状态
            except IndexError:  # 为了让刚启动时容错
                pass
def producer(event, l):
    t = threading.current_thread()
    for _ in range(3):
        integer = random.choice(range(5))
        l.append(integer)
        print('{} appended to list by {}'.format(integer, t.name))
        event.set()	 # 设置事件
        time.sleep(1)
event = threading.Event()
l = []
threads = []
for name in ('consumer1', 'consumer2'):
    t = threading.Thread(name=name, target=consumer, args=(event, l))
    t.start()
    threads.append(t)
p = threading.Thread(name='producer1', target=producer, args=(event, l))
p.start()
threads.append(p)
for t in threads:
    t.join()
