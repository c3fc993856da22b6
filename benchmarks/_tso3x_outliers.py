"""Run tso3x's outlier detection only (read segments, flag, write crfints): the span jwst's runner times.

Usage: python _tso3x_outliers.py ASN OUTPUT_DIR. ``tso3x run`` would go on to photometry or extraction.
"""

import shutil
import sys

from tso3x.execution import compute_alongside
from tso3x.io.asn import open_asn
from tso3x.io.calints import open_exposures
from tso3x.io.crfints import plan_crfints
from tso3x.pipeline import TMP_DIR, prepare_output_dir
from tso3x.steps.outliers import detect_outliers


def main() -> None:
    asn = open_asn(sys.argv[1])
    out = prepare_output_dir(sys.argv[2])
    try:
        for exposure in open_exposures(asn.members):
            plan = plan_crfints(detect_outliers(exposure), asn, out)
            compute_alongside([], [plan], label="outlier_detection")
    finally:
        shutil.rmtree(out / TMP_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
