# expect: bug lost-data|step-limit --strategy random --runs 2000 --max-steps 3000
# seed 004's Event producer/consumer as the catalog's `event-consumers/seed` checks it: consumers
# are daemons, the producer makes three items without its sleep (on the virtual clock the sleep
# lets the consumers settle every time), and main checks that every item was consumed. A consumer
# that pops, then clear()s after the producer appended again and set(), erases that set: the item
# stays in the list with nobody woken for it.
# A failed pop skips the clear() (it is inside the `try`): with the event set and the list empty
# the consumers spin in `while 1` for ever, and on the virtual clock main never wakes from its
# sleep, so a run can also end at the step limit (seed 0 finds that first; seed 2 the lost item).
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
event = threading.Event()
l = []
for name in ('consumer1', 'consumer2'):
    threading.Thread(name=name, target=consumer, args=(event, l), daemon=True).start()
p = threading.Thread(name='producer1', target=producer, args=(event, l))
p.start()
p.join()
time.sleep(5)
assert not l, f"lost data: {l} left in the list"
