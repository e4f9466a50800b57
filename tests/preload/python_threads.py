# A real-program workload for runs under LD_PRELOAD (the end-to-end test and the A/B
# harness): 4 Python threads build and drop dicts of lists and strings, then print digests
# that must not depend on the allocator.
#   python3 python_threads.py [operations per thread]
import hashlib
import sys
import threading

operations = int(sys.argv[1]) if len(sys.argv) > 1 else 150000
results = [None] * 4


def work(index):
    table = {}
    for i in range(operations):
        table[i % 50000] = [str(i * index)] * (i % 7)
        if i % 3 == 0:
            table.pop((i * 7) % 50000, None)
    digest = hashlib.sha256()
    for key in sorted(table):
        digest.update(repr((key, table[key])).encode())
    results[index] = digest.hexdigest()


threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\n".join(results))
