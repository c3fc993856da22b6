"""Photometry of one simulated exposure by jwst 3.0.0's tso_photometry step or by tso3x (benchmark helper).

Usage: python _phot_runner.py {jwst,tso3x} ASN GAIN OUTPUT_DIR. Both read the calints segments listed in the
association and write their catalogs (jwst: one ``_phot.ecsv`` per segment; tso3x: one for the exposure).
CRDS is never contacted (the gain is an override).
The time after imports is written to OUTPUT_DIR/seconds.
"""

import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "true"
logging.disable(logging.INFO)  # keep the step logs out of the benchmark output


def main() -> None:
    which, asn, gain, out = sys.argv[1:5]
    asn = Path(asn)
    members = [asn.parent / m["expname"] for m in json.loads(asn.read_text())["products"][0]["members"]]
    Path(out).mkdir(parents=True, exist_ok=True)
    if which == "jwst":
        import stpipe.crds_client
        from jwst.tso_photometry import TSOPhotometryStep

        stpipe.crds_client.get_context_used = lambda *args, **kwargs: "jwst_offline.pmap"
        start = time.perf_counter()
        for seg in members:
            TSOPhotometryStep.call(str(seg), override_gain=gain, save_catalog=True, output_dir=out)
    else:
        import tso3x

        start = time.perf_counter()
        (ds,) = tso3x.open_exposures(members)
        tso3x.write_phot_ecsv([tso3x.photometry(ds, gain=gain)], Path(out) / "tso3x_phot.ecsv")
    # seconds spent after start-up and imports (reading, photometry, writing the catalogs)
    (Path(out) / "seconds").write_text(f"{time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
