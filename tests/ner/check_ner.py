#!/usr/bin/python3
"""check_ner.py: checks of the NER test scripts (tests/ner/*.sh), with h5py and json.

  check_ner.py log LOG MIN_DROP MIN_F1       the per-epoch loss falls by MIN_DROP (a factor) and
                                             the best dev F1 exceeds MIN_F1 (all-O scores 0)
  check_ner.py close A.h5 B.h5 TOL           two taggers' parameters agree within TOL
  check_ner.py tagger T.h5 SHA N_TAGS        the tagger file's attributes
  check_ner.py report OUT.eval.json EPOCHS   the JSON report's fields
  check_ner.py spans OUT.jsonl MIN           every entity's text is text[start:end] in code points,
                                             and there are at least MIN entities
  check_ner.py samples OUT.jsonl             annotate's output of tests/ner/tweets_sample.jsonl
"""
import json
import os
import sys

import h5py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import h5check  # noqa: E402


def fail(msg):
    h5check.fail(msg, "check_ner: FAIL:")


def log(path, min_drop, min_f1):
    losses, f1s = [], []
    for line in open(path):
        if line.startswith("epoch "):
            losses.append(float(line.split("train loss ")[1].split(",")[0]))
            if " F1 " in line:
                f1s.append(float(line.split(" F1 ")[1].split()[0].rstrip(",")))
    if len(losses) < 2:
        fail("no epoch lines in %s" % path)
    if not losses[-1] < losses[0] / float(min_drop):
        fail("loss did not fall by %s: %s" % (min_drop, losses))
    if not max(f1s) > float(min_f1):
        fail("best dev F1 %.2f is not above %s (all-O: 0)" % (max(f1s), min_f1))
    print("loss %.4f -> %.4f, best F1 %.2f" % (losses[0], losses[-1], max(f1s)))


def params(path):
    with h5py.File(path, "r") as f:
        return h5check.read_datasets(f["params"])


def close(a, b, tol):
    pa, pb = params(a), params(b)
    if sorted(pa) != sorted(pb) or len(pa) != 8:
        fail("tensors differ: %s vs %s" % (sorted(pa), sorted(pb)))
    worst = h5check.max_abs_diff(pa, pb)
    if not worst <= float(tol):
        fail("parameters differ by %g > %s" % (worst, tol))
    print("parameters agree within %.3g" % worst)


def tagger(path, sha, n_tags):
    with h5py.File(path, "r") as f:
        a = f.attrs
        if a["format"] != "elmo-tagger":
            fail("format attribute")
        tags = a["tags"].split("\n")
        if len(tags) != int(n_tags) or tags[0] != "O":
            fail("tag set %s" % tags)
        if sha != "-" and a["weights_sha256"] != sha:
            fail("weights_sha256 %s != %s" % (a["weights_sha256"], sha))
        for k in ["K", "D", "H", "n_tags", "lr", "batch_size", "epochs", "best_epoch", "seed",
                  "job_yaml", "features"]:
            if k not in a:
                fail("attribute %s missing" % k)
        if f["params/dense/kernel"].shape != (2 * int(a["H"]), len(tags)):
            fail("dense kernel shape")
    print("tagger file ok: %d tags" % len(tags))


def report(path, epochs):
    r = json.load(open(path))
    if len(r["per_epoch"]) != int(epochs) or not 1 <= r["best_epoch"] <= int(epochs):
        fail("per_epoch / best_epoch")
    for split in ["dev", "test"]:
        for k in ["precision", "recall", "f1", "phrases", "found", "correct", "types"]:
            if k not in r[split]:
                fail("%s.%s missing" % (split, k))
    print("report ok")


def spans(path, min_entities="0"):
    n = 0
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        for e in o["entities"]:
            if o["text"][e["start"]:e["end"]] != e["text"]:
                fail("span %r vs text[%d:%d] = %r" % (e["text"], e["start"], e["end"],
                                                     o["text"][e["start"]:e["end"]]))
            if not 0 < e["score"] <= 1 or not e["type"]:
                fail("score/type of %r" % e)
            n += 1
    if n < int(min_entities):
        fail("%d entities, expected at least %s" % (n, min_entities))
    print("%d entities, all spans match" % n)
    return n


def samples(path):
    rows = [json.loads(l) for l in open(path, encoding="utf-8")]
    ids = [r["id"] for r in rows]
    want = ["1050118621198921728", "1050118621198921729", "1050118621198921730",
            "1050118621198921731", "1050118621198921734", "1050118621198921735"]
    if ids != want:
        fail("ids %s" % ids)
    texts = [r["text"] for r in rows]
    expect = [
        # truncated v1.1 tweet: extended_tweet.full_text, &amp; unescaped, emoji kept
        "Just landed in New York with @JohnSmith for the Apple event & more! Can't wait "
        "\U0001F600\U0001F44D\U0001F3FD #AppleEvent https://t.co/abc",
        # retweet: RT @user: + the retweeted full text
        "RT @BBCBreaking: Barack Obama visits London and Paris today <3 "
        "\U0001F468\u200d\U0001F469\u200d\U0001F467 \U0001F1EC\U0001F1E7",
        "Manchester United beat Chelsea at Old Trafford in England",
        # v2 note_tweet
        "Taylor Swift's new album is out & the tour starts in Los Angeles "
        "\U0001F3A4\U0001F469\U0001F3FE\u200d\U0001F3A4",
        "Google and Microsoft open offices in London \U0001F600 \"big news\" for Europe",
        "Watching the Lakers game with my brother in Chicago tonight \U0001F3C0",
    ]
    for got, exp in zip(texts, expect):
        if got != exp:
            fail("text %r != %r" % (got, exp))
    print("samples ok: %d tweets in input order" % len(rows))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"log": log, "close": close, "tagger": tagger, "report": report, "spans": spans,
     "samples": samples}[cmd](*args)
