# expect: pass --strategy dfs
# seed 000: a Thread subclass whose join returns the value. The seed is Python 2 (`Verbose`,
# `self._Thread__target`); in Python 3 the same attributes are `_target`, `_args`, `_kwargs`.
from threading import Thread

def foo(bar):
    print('hello {0}'.format(bar))
    return "foo"

class ThreadWithReturnValue(Thread):
    def __init__(self, group=None, target=None, name=None,
                 args=(), kwargs={}, Verbose=None):
        Thread.__init__(self, group, target, name, args, kwargs)
        self._return = None
    def run(self):
        if self._target is not None:
            self._return = self._target(*self._args,
                                        **self._kwargs)
    def join(self):
        Thread.join(self)
        return self._return

twrv = ThreadWithReturnValue(target=foo, args=('world!',))

twrv.start()
print(twrv.join())   # prints foo
assert twrv.join() == "foo"
