# expect: pass --strategy dfs
# seed 000, "返回值": the return value of a thread through ThreadPool.apply_async (Python 3 print).
def foo(bar, baz):
    print('hello {0}'.format(bar))
    return 'foo' + baz

from multiprocessing.pool import ThreadPool
pool = ThreadPool(processes=1)

async_result = pool.apply_async(foo, ('world', 'foo')) # tuple of args for foo

# do some other stuff in the main process

return_val = async_result.get()  # get the return value from your function.
assert return_val == 'foofoo', return_val
