# A real-program workload for the A/B harness: an in-memory SQLite database built by many
# INSERTs, then indexed and queried. SQLite allocates its pages, cells and statements through
# malloc, so the heap holds many small objects of mixed sizes. Prints digests that must not
# depend on the allocator.
#   python3 sqlite_workload.py [rows]
import hashlib
import sqlite3
import sys

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 400000

db = sqlite3.connect(":memory:")
db.execute("PRAGMA cache_size = -1000000")  # up to 1 GB of page cache: everything stays in memory
db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, price REAL, note TEXT)")


def generate():
    state = 12345
    for i in range(rows):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        name = "item-%d-%x" % (i, state >> 40)
        kind = "kind%d" % ((state >> 20) % 97)
        note = "n" * ((state >> 8) % 120)  # 0..119 bytes: rows of mixed sizes
        yield (i, name, kind, (state >> 33) % 100000 / 100.0, note)


with db:
    db.executemany("INSERT INTO item VALUES (?, ?, ?, ?, ?)", generate())
db.execute("CREATE INDEX item_kind ON item (kind, price)")
db.execute("CREATE INDEX item_name ON item (name)")
digest = hashlib.sha256()
for row in db.execute("SELECT kind, COUNT(*), ROUND(SUM(price), 2), MAX(LENGTH(note)) FROM item GROUP BY kind"):
    digest.update(repr(row).encode())
for row in db.execute("SELECT id, name FROM item WHERE name LIKE 'item-1%' ORDER BY name LIMIT 1000"):
    digest.update(repr(row).encode())
with db:
    db.execute("DELETE FROM item WHERE id % 3 = 0")
    db.execute("UPDATE item SET note = note || 'x' WHERE id % 5 = 0")
print(db.execute("SELECT COUNT(*), ROUND(SUM(price), 2) FROM item").fetchone(), digest.hexdigest())
