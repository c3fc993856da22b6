"""Run jwst 3.0.0's whole calwebb_tso3 offline on an association (end-to-end benchmark helper).

Usage: python _jwst_tso3.py ASN OUTPUT_DIR [GAIN|N/A] [EXTRACT1D|N/A] [STEPS_JSON]. Every reference file is a local
override (or N/A), CRDS parameter files are disabled and CRDS is never contacted. STEPS_JSON (a JSON object
``{step: {parameter: value}}``) is merged last, e.g. the SOSS reference files and ``soss_*`` parameters.
"""

import json
import logging
import os
import sys

os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "true"
os.environ.setdefault("CRDS_PATH", os.path.join(sys.argv[2], ".crds"))


def main() -> None:
    import stpipe.crds_client
    from jwst.pipeline import Tso3Pipeline

    asn, out = sys.argv[1:3]
    gain = sys.argv[3] if len(sys.argv) > 3 else "N/A"
    extract1d = sys.argv[4] if len(sys.argv) > 4 else "N/A"
    logging.disable(logging.INFO)
    stpipe.crds_client.get_context_used = lambda *args, **kwargs: "jwst_offline.pmap"
    steps = {
        "tso_photometry": {"override_gain": gain},
        "extract_1d": {"override_extract1d": extract1d, "override_apcorr": "N/A", "override_psf": "N/A"},
        "photom": {"override_photom": "N/A", "override_area": "N/A"},
        "white_light": {"override_wavelengthrange": "N/A"},
    }
    extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    for step, pars in extra.items():
        steps.setdefault(step, {}).update(pars)
    pipe = Tso3Pipeline(steps=steps, output_dir=out)
    pipe.prefetch_references = False
    pipe.run(asn)


if __name__ == "__main__":
    main()
