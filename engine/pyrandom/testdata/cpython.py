# Writes cpython.json: numbers drawn by CPython's own random module, which
# pyrandom_test.go compares with the Go port. Run: python3 cpython.py
# (any CPython >= 3.9; written with 3.11).
import json
import random
import sys

seeds = [0, 1, 2, 3, 42, 12345, 2**32 + 5, 2**63 - 1, -7]
out = {"python": sys.version.split()[0], "seeds": []}
for seed in seeds:
    case = {"seed": seed}
    random.seed(seed)
    case["uint32"] = [random.getrandbits(32) for _ in range(8)]
    random.seed(seed)
    case["bits"] = [[k, random.getrandbits(k)] for k in (1, 5, 31, 32, 33, 48, 64)]
    random.seed(seed)
    case["randbelow"] = [[n, random.randrange(n)] for n in (1, 2, 3, 7, 100, 1000, 2**31 + 11)]
    random.seed(seed)
    case["random"] = [random.random() for _ in range(4)]
    samples = []
    # Both branches of sample: the pool (n <= setsize) and the set.
    for n, k in ((5, 5), (10, 3), (20, 16), (85, 16), (86, 16), (500, 16), (1000, 4), (30, 0)):
        random.seed(seed)
        samples.append({"n": n, "k": k, "sample": random.sample(range(n), k)})
    case["samples"] = samples
    out["seeds"].append(case)

with open("cpython.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
