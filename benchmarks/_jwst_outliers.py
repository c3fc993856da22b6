"""Run jwst 3.0.0's calwebb_tso3 outlier detection (reading segments, writing crfints) offline.

Usage: python _jwst_outliers.py ASN OUTPUT_DIR. Every other step is skipped; CRDS is never contacted.
"""

import os
import sys

os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "true"
os.environ.setdefault("CRDS_PATH", os.path.join(sys.argv[2], ".crds"))


def main() -> None:
    import stpipe.crds_client
    from jwst.pipeline import Tso3Pipeline

    stpipe.crds_client.get_context_used = lambda *args, **kwargs: "jwst_offline.pmap"
    steps = {name: {"skip": True} for name in ("tso_photometry", "extract_1d", "white_light")}
    pipe = Tso3Pipeline(steps=steps, output_dir=sys.argv[2])
    pipe.prefetch_references = False
    try:
        pipe.run(sys.argv[1])
    except TypeError:  # imaging with tso_photometry skipped fails after the crfints are written
        pass


if __name__ == "__main__":
    main()
