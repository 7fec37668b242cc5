#!/usr/bin/env python3
"""Builds a zero-shot multiple-choice task from a file of token sequences,
in the id form `tracenas eval --tasks` and `study.tasks` read
(core/src/study/multiple_choice.hpp):

    {"id": "seq-400@96", "context_ids": [...], "choices_ids": [[...], ...], "answer": 2}

Construction (one example per sequence of the chosen range and context length):
  - The samples file is a stream of little-endian token ids (uint16, or
    uint32 with --u32) cut into sequences of --seq-len tokens, each sequence
    a separate story (stories260K-samples.u16: 512 x 256, each starting with
    BOS).
  - The context is the sequence's first C tokens (its BOS included), for each
    C of --contexts (32, 96 and 160: early, middle and late in a story).
  - The right answer is the sequence's next --continuation tokens.
  - The --choices - 1 wrong answers are the tokens at the same positions of
    other sequences of the range, drawn without replacement with a seeded
    generator; a span equal to the right answer is never used as a wrong
    one. They are real text from the same position in a story, so they are
    fluent on their own: only their fit to the context tells them apart.
  - The answer's place among the choices is drawn uniformly.
  - Every choice has the same number of tokens, so no choice gains from
    being short: acc and acc_norm agree.
  - Continuations are 2 tokens long by default. On the stories260K samples
    (384 examples) the unpruned model scores 0.99 with 16 tokens, too close
    to the ceiling to rank models by; with 2 it scores 0.94, and the
    half-size sub-network configs/archs/stories260K-half.json before any
    training 0.48 (chance: 0.25).
By default the range is the last quarter of the sequences: the windows a
study with `eval_fraction: 0.25` holds out and never trains on, so the task
measures what the pruned and retrained model predicts, not what it memorised.

    python3 scripts/story_choices.py --samples ../shared/data/stories260K-samples.u16 \
        --out models/stories260K-choices.jsonl

Bad input is one line on stderr naming the option or file, exit 2; the
output is written to a temporary file and renamed, so it is never partial.
"""
import argparse
import json
import os
import random
import struct
import sys


def fail(message):
    print(f"story_choices.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_sequences(path, seq_len, width):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        fail(f"--samples {path}: {e.strerror}")
    if len(raw) % width:
        fail(f"--samples {path}: {len(raw)} bytes is not a whole number of {width}-byte ids")
    ids = struct.unpack(f"<{len(raw) // width}{'H' if width == 2 else 'I'}", raw)
    if len(ids) < seq_len:
        fail(f"--samples {path}: {len(ids)} tokens, fewer than one sequence of --seq-len {seq_len}")
    n = len(ids) // seq_len
    return [list(ids[i * seq_len:(i + 1) * seq_len]) for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", required=True, help="token file (uint16 little-endian)")
    ap.add_argument("--out", required=True, help="task file to write (JSONL)")
    ap.add_argument("--u32", action="store_true", help="the samples are uint32 ids")
    ap.add_argument("--seq-len", type=int, default=256, help="tokens per sequence (256)")
    ap.add_argument("--first", type=int, default=None,
                    help="first sequence used (default: the start of the last quarter)")
    ap.add_argument("--count", type=int, default=None,
                    help="sequences used (default: all from --first on)")
    ap.add_argument("--contexts", default="32,96,160",
                    help="context lengths, comma-separated: one example each per sequence")
    ap.add_argument("--continuation", type=int, default=2, help="tokens per choice (2)")
    ap.add_argument("--choices", type=int, default=4, help="choices per example (4)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the draws (0)")
    a = ap.parse_args()

    try:
        contexts = [int(c) for c in a.contexts.split(",")]
    except ValueError:
        fail(f"--contexts {a.contexts!r} is not a comma-separated list of integers")
    if any(c < 1 for c in contexts):
        fail(f"--contexts {a.contexts}: every context length must be at least 1")
    for name in ("seq_len", "continuation", "choices"):
        if getattr(a, name) < 1:
            fail(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(a, name)})")
    if a.choices < 2:
        fail(f"--choices must be at least 2 (got {a.choices})")
    if max(contexts) + a.continuation > a.seq_len:
        fail(f"--contexts {max(contexts)} + --continuation {a.continuation} exceeds "
             f"--seq-len {a.seq_len}")
    seqs = read_sequences(a.samples, a.seq_len, 4 if a.u32 else 2)
    first = a.first if a.first is not None else len(seqs) - (len(seqs) + 3) // 4
    count = a.count if a.count is not None else len(seqs) - first
    if first < 0 or first >= len(seqs):
        fail(f"--first {first} is outside the {len(seqs)} sequences of {a.samples}")
    if count < a.choices or first + count > len(seqs):
        fail(f"--count {count} from --first {first}: needs at least --choices {a.choices} "
             f"sequences within the {len(seqs)} of {a.samples}")

    rng = random.Random(a.seed)
    lines = []
    for context in contexts:
        span = slice(context, context + a.continuation)
        for i in range(first, first + count):
            true = seqs[i][span]
            others = [j for j in range(first, first + count) if j != i]
            rng.shuffle(others)
            wrong, seen = [], {tuple(true)}
            for j in others:
                cand = tuple(seqs[j][span])
                if cand not in seen:
                    seen.add(cand)
                    wrong.append(list(cand))
                if len(wrong) == a.choices - 1:
                    break
            if len(wrong) < a.choices - 1:
                fail(f"sequence {i}: fewer than {a.choices - 1} other distinct continuations at "
                     f"context {context} in the range")
            answer = rng.randrange(a.choices)
            choices = wrong[:answer] + [true] + wrong[answer:]
            lines.append(json.dumps({"id": f"seq-{i}@{context}", "context_ids": seqs[i][:context],
                                     "choices_ids": choices, "answer": answer},
                                    separators=(",", ":")))

    tmp = f"{a.out}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, a.out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail(f"--out {a.out}: {e.strerror}")
    print(json.dumps({"out": a.out, "examples": len(lines), "choices": a.choices,
                      "contexts": contexts, "first": first, "count": count}))


if __name__ == "__main__":
    main()
