# expect: pass --strategy random --runs 300
# seed 004, "## threading.local": a local per thread, a subclass initialised per thread; two
# threads added to show that each sees its own value.
import threading

local_data = threading.local()
local_data.value = 1 # 在每个thread里面直接set/get就可以，不会互相影响

# 初始化
class MyLocal(threading.local):
    def __init__(self, value):
        super().__init__()
        self.value = value
        
my_local_data = MyLocal(1000)
print(my_local_data.value)

def worker(n):
    local_data.value = n
    assert my_local_data.value == 1000
    my_local_data.value = n
    assert local_data.value == n and my_local_data.value == n

threads = [threading.Thread(target=worker, args=(n,)) for n in (2, 3)]
for t in threads: t.start()
for t in threads: t.join()
assert local_data.value == 1 and my_local_data.value == 1000
