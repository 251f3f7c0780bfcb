# expect: pass --strategy random --runs 200
# seed 004, "## threading": logging from threads, daemon vs non-daemon with join, join(timeout),
# enumerate/main_thread, a Thread subclass. As written, except `d.isAlive()`, which Python 3.9
# removed: `d.is_alive()`.
import logging
import threading

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.DEBUG)
handler = logging.StreamHandler()
handler.setFormatter(
    logging.Formatter('[%(levelname)s] (%(threadName)-10s) %(message)s')
)
LOGGER.handlers = [handler]

# 使用logging而不是print
def worker(num):
    # current_thread方法获取当前线程
    LOGGER.debug('%s started', threading.current_thread().getName())
    LOGGER.debug(num)
    LOGGER.debug('%s finished', threading.current_thread().getName())
    
for i in range(5):
    # threading.Thread直接构造thread object，args和kwargs传入参数
    t = threading.Thread(name='Thread %s' % i, target=worker, args=(i, ))
    t.start() # 启动线程

import time

def daemon():
    logging.debug('Starting...')
    time.sleep(2)
    logging.debug('Ending...')
    
def non_daemon():
    logging.debug('Starting...')
    logging.debug('Ending...')
    
d = threading.Thread(name='daemon', target=daemon, daemon=True)
t = threading.Thread(name='non-daemon', target=non_daemon)

d.start()
t.start()
d.join()
t.join()
d.join(0.1)
print('d.isAlive()', d.is_alive())
t.join()

main_thread = threading.main_thread() # main_thread方法获取主线程
for t in threading.enumerate():
    if t is main_thread:
        continue # enumerate的结果也包括主线程，join主线程会造成死锁
    # t.join()
assert threading.enumerate() == [main_thread], threading.enumerate()
assert threading.active_count() == 1

class MyThread(threading.Thread):
    def run(self): # 可以扩展更多参数 args & kwargs
        logging.debug('Running...')

m = MyThread()
m.start()
m.join()
