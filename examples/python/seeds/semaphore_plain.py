# expect: pass --strategy random --runs 200
# The same with the seed's other line, threading.Semaphore(3): the extra release passes silently
# (the bug is there, unseen; a BoundedSemaphore is how to see it).
import threading
import time

semaphore = threading.Semaphore(3)
# semaphore = threading.BoundedSemaphore(3)

def fun():
    print("Thread %s is waiting semphore\n" % threading.currentThread().getName())
    semaphore.acquire()
    print("Thread %s get semphore\n" % threading.currentThread().getName())
    time.sleep(1)
    print("Thread %s release semphore\n" % threading.currentThread().getName())
    semaphore.release()


if __name__ == "__main__":
    t1 = threading.Thread(target=fun)
    t2 = threading.Thread(target=fun)
    t3 = threading.Thread(target=fun)
    t4 = threading.Thread(target=fun)

    t1.start()
    t2.start()
    t3.start()
    t4.start()

    t1.join()
    t2.join()
    t3.join()
    t4.join()

    semaphore.release()  #这里因为是简单的Semaphore,所以可以再次释放，不会报错，而BoundedSemaphore，则会报错
