# expect: bug daemon-cut-off --strategy dfs --fail-on-daemon-cut-off
# seed 004: "这种情况下daemon的`Ending...`不会打印出来，因为main thread不会等待它完成": without the
# joins, the program ends while the daemon sleeps, and Python kills it mid-way.
import logging
import threading
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
