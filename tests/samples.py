"""Where the tests find the real vendor sample exports: tests/fixtures/vendor_samples, a copy of
the 32 vendors' anonymized sample files Education Analytics published in its
earthmover_edfi_bundles repository (Apache License 2.0; README.md and LICENSE-Apache-2.0.txt
there), kept in the repository so the tests need nothing outside it."""

from pathlib import Path

VENDOR_SAMPLES = Path(__file__).resolve().parent / "fixtures" / "vendor_samples"
