# A real-program workload for the A/B harness, run with PYTHONMALLOC=malloc so that every
# Python object is a malloc block: one thread builds and reshapes many objects of mixed sizes
# (small tuples, strings, lists, dicts, sets), drops some and builds more. Prints digests that
# must not depend on the allocator.
#   PYTHONMALLOC=malloc python3 python_objects.py [records]
import hashlib
import sys

records = int(sys.argv[1]) if len(sys.argv) > 1 else 300000


class Record:
    def __init__(self, key, state):
        self.key = key
        self.name = "r%d" % key + "-" * (state % 40)
        self.tags = [state % 7, state % 11, "t%d" % (state % 13)][: 1 + state % 3]
        self.attributes = {"a%d" % j: j * state % 1000 for j in range(state % 6)}
        self.point = (key, state & 0xFFFF, float(state % 1000))


state = 1
table = {}
for i in range(records):
    state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    table[i] = Record(i, state >> 33)
    if i % 4 == 3:  # churn: drop an older record now and then
        table.pop((state >> 20) % (i + 1), None)
index = {}
for record in table.values():
    index.setdefault(record.name[:3], set()).add(record.key)
digest = hashlib.sha256()
for key in sorted(table)[::97]:
    record = table[key]
    digest.update(repr((record.name, record.tags, sorted(record.attributes.items()), record.point)).encode())
print(len(table), len(index), sum(len(keys) for keys in index.values()), digest.hexdigest())
