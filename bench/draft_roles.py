"""How much of a conformance section `draft-declaration` proposes, per vendor sample folder.

For each of the 32 vendors in tests/fixtures/vendor_samples (all its data files drafted
together, except the SC_Alternate_Assessment columns-by-year side files), which of the roles a
human-written declaration needs the draft proposes: student id, names (first and last), birth
date, test date, subject (a field, a group key or a value read from the file name; the
`Other` placeholder does not count), scores and performance levels. "Proposed" means a guess
is there to check, not that it was checked to be right. Also checks that the draft lands
each of the vendor's files with 0 rejects.

    .venv/bin/python bench/draft_roles.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from interop_pipeline.connectors.conformance import ConformingSinks
from interop_pipeline.connectors.draft import draft_declaration
from interop_pipeline.connectors.tabular import land_vendor_file, load_declaration

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "vendor_samples"
ROLES = ("student_id", "names", "birth_date", "test_date", "subject", "scores", "levels")
LABELS = {
    "student_id": "the student id",
    "names": "first and last names",
    "birth_date": "the birth date",
    "test_date": "the test date",
    "subject": "the subject",
    "scores": "scores",
    "levels": "performance levels",
}


def vendor_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.casefold() in (".csv", ".txt") and not p.name.startswith("columns_by_year")
    )


def lands_cleanly(files: list[Path], yaml_text: str) -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "draft.yaml"
        path.write_text(yaml_text, encoding="utf-8")
        declaration = load_declaration(path)
        for i, sample in enumerate(files):
            if not declaration.matches(sample.name):
                continue  # a fixed-width twin drafted beside its CSV: its own declaration
            result = land_vendor_file(
                sample,
                [declaration],
                Path(scratch) / f"landing{i}",
                district_code="bench",
                max_uncompressed_bytes=1 << 30,
                row_sinks=ConformingSinks(),
            )
            if sum(result.rows_rejected.values()):
                return False
    return True


def main() -> int:
    vendors = sorted(p for p in SAMPLES.iterdir() if p.is_dir())
    totals = dict.fromkeys(ROLES, 0)
    clean = 0
    print(f"{'vendor':<32} {'files':>5}  " + " ".join(f"{r[:8]:>8}" for r in ROLES) + "  proposed  lands")
    for folder in vendors:
        files = vendor_files(folder)
        draft = draft_declaration(files)
        roles = draft.roles()
        subject = draft.conformance.get("assessment", {}).get("subject")
        roles["subject"] = roles["subject"] and subject != {"value": "Other"}
        ok = lands_cleanly(files, draft.to_yaml())
        clean += ok
        for role in ROLES:
            totals[role] += roles[role]
        marks = " ".join(f"{'yes' if roles[r] else '-':>8}" for r in ROLES)
        proposed = sum(roles[r] for r in ROLES)
        lands = "0 rejects" if ok else "REJECTS"
        print(f"{folder.name:<32} {len(files):>5}  {marks}  {proposed:>4}/{len(ROLES)}  {lands}")
    n = len(vendors)
    parts = [f"{LABELS[r]} for {totals[r]}" for r in ROLES]
    print()
    print(
        f"draft-declaration proposes {parts[0]} of {n} vendors, "
        + ", ".join(parts[1:])
        + f" (of the {len(ROLES)} roles a human declaration needs: {sum(totals.values())} of {len(ROLES) * n}); "
        + f"its draft lands every sample file of {clean} of {n} vendors with 0 rejects"
    )
    return 0 if clean == n else 1


if __name__ == "__main__":
    sys.exit(main())
