# Writes the fixtures of dassl_test.go with CPython's own random module:
#
#   dassl_fewshot.json       few-shot draws as Dassl's generate_fewshot_dataset
#                            makes them after random.seed(seed)
#   shot_4-seed_2.pkl        a split_fewshot pickle as Dassl writes it: a dict
#                            {"train": [Datum], "val": [Datum]} of
#                            dassl.data.datasets.base_dataset.Datum objects,
#                            pickle.HIGHEST_PROTOCOL; its shots are drawn with
#                            seed 99, so a reader that redraws instead of
#                            reading it is caught
#
# Run: python3 dassl.py (written with CPython 3.11; Dassl is not needed).
import json
import pickle
import random
import sys
import types

# Items of a small dataset, classes interleaved (first appearance 2, 0, 1, 3);
# class 1 has fewer than 16 training images, class 3 exactly 16.
train, val = [], []
for i in range(40):
    for label in (2, 0):
        train.append(["train/class_%d/%d.jpg" % (label, i), label, "class_%d" % label])
    if i < 9:
        train.append(["train/class_1/%d.jpg" % i, 1, "class_1"])
    if i < 16:
        train.append(["train/class_3/%d.jpg" % i, 3, "class_3"])
for i in range(10):
    for label in (0, 1, 2, 3):
        val.append(["val/class_%d/%d.jpg" % (label, i), label, "class_%d" % label])


def fewshot(items, k):
    """generate_fewshot_dataset with repeat=False, on the global stream."""
    groups = {}
    for item in items:
        groups.setdefault(item[1], []).append(item)
    out = []
    for group in groups.values():
        out.extend(random.sample(group, k) if len(group) >= k else group)
    return out


def draw(seed, k):
    random.seed(seed)
    t = fewshot(train, k)
    v = fewshot(val, min(k, 4))
    return t, v


draws = []
for seed, k in ((1, 16), (2, 16), (3, 16), (2, 4)):
    t, v = draw(seed, k)
    draws.append({"seed": seed, "k": k, "train": [x[0] for x in t], "val": [x[0] for x in v]})
with open("dassl_fewshot.json", "w") as f:
    json.dump({"python": sys.version.split()[0], "train": train, "val": val, "draws": draws}, f)
    f.write("\n")

# A stand-in for dassl.data.datasets.base_dataset, so that pickle records
# the class under Dassl's own module path.
module = types.ModuleType("dassl.data.datasets.base_dataset")


class Datum:
    def __init__(self, impath="", label=0, domain=0, classname=""):
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname


Datum.__module__ = module.__name__
Datum.__qualname__ = "Datum"
module.Datum = Datum
for parent in ("dassl", "dassl.data", "dassl.data.datasets"):
    sys.modules[parent] = types.ModuleType(parent)
sys.modules[module.__name__] = module

root = "/scratch-shared/promptlearning/coop_datasets/fake/"
t, v = draw(99, 4)
data = {
    "train": [Datum(root + x[0], x[1], 0, x[2]) for x in t],
    "val": [Datum(root + x[0], x[1], 0, x[2]) for x in v],
}
with open("shot_4-seed_2.pkl", "wb") as f:
    pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
