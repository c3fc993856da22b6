"""Exposure timing, INT_TIMES tables, calints metadata and the FITS writer.

The metadata are the keywords a Stage-2 ``_calints`` product carries (stdatamodels 6.0 schema
paths); values are those of a plausible program 1234 observation of WASP-39.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from astropy.time import Time

from tso3x.simulate.modes import ModeSpec

#: MJD (UTC) of the start of every simulated exposure.
EXPSTART_MJD = 60310.25
#: TT − UTC + a barycentric light-time correction [s] giving the BJD_TDB (MJD-format) times.
_TDB_OFFSET_S = 69.184 + 187.42
_BARY_DRIFT_S_PER_DAY = 1.3

PROGRAM = "01234"
OBSERVATION = "001"
VISIT = "001"
VISIT_GROUP = "04"
SEQUENCE = "1"
ACTIVITY = "01"
EXPOSURE = "00001"
TARGET_NAME = "WASP-39"
TARGET_RA = 217.3266477
TARGET_DEC = -3.4444994

_READPATT = {"NIRCAM": "RAPID", "NIRSPEC": "NRSRAPID", "MIRI": "FASTR1", "NIRISS": "NISRAPID"}
_AXES = {"NIRCAM": (-1, 2), "NIRSPEC": (2, 1), "MIRI": (1, 2), "NIRISS": (-2, -1)}
_SCA = {"NRCA3": 483, "NRCALONG": 485, "NRS1": 491, "NRS2": 492, "MIRIMAGE": 493, "NIS": 496}


@dataclass(frozen=True)
class Timing:
    """Exposure timing (all integrations of the exposure, 1-based ``number``)."""

    tframe: float
    tgroup: float
    ngroups: int
    effinttm: float
    cadence: float
    number: np.ndarray
    mjd_start: np.ndarray
    mjd_end: np.ndarray

    @property
    def nints(self) -> int:
        return int(self.number.size)

    @property
    def mjd_mid(self) -> np.ndarray:
        return 0.5 * (self.mjd_start + self.mjd_end)

    @staticmethod
    def to_tdb(mjd_utc: np.ndarray) -> np.ndarray:
        """BJD_TDB − 2400000.5 of UTC MJD times (constant offset plus a slow barycentric drift)."""
        mjd_utc = np.asarray(mjd_utc, dtype=np.float64)
        return mjd_utc + (_TDB_OFFSET_S + _BARY_DRIFT_S_PER_DAY * (mjd_utc - EXPSTART_MJD)) / 86400.0


def exposure_timing(spec: ModeSpec, nints: int) -> Timing:
    """Uniform-cadence timing of an exposure of ``nints`` integrations (1 reset frame between them)."""
    tgroup = spec.tframe
    effinttm = (spec.ngroups - 1) * tgroup
    cadence = (spec.ngroups + 1) * spec.tframe
    number = np.arange(1, nints + 1, dtype=np.int32)
    start = EXPSTART_MJD + (number - 1) * cadence / 86400.0
    end = start + spec.ngroups * tgroup / 86400.0
    return Timing(spec.tframe, tgroup, spec.ngroups, effinttm, cadence, number, start, end)


def int_times_table(timing: Timing, first: int, last: int) -> np.ndarray:
    """INT_TIMES rows of integrations ``first..last`` (1-based, inclusive) as a record array."""
    sl = slice(first - 1, last)
    dtype = [
        ("integration_number", ">i4"),
        ("int_start_MJD_UTC", ">f8"),
        ("int_mid_MJD_UTC", ">f8"),
        ("int_end_MJD_UTC", ">f8"),
        ("int_start_BJD_TDB", ">f8"),
        ("int_mid_BJD_TDB", ">f8"),
        ("int_end_BJD_TDB", ">f8"),
    ]
    tab = np.zeros(last - first + 1, dtype=dtype)
    tab["integration_number"] = timing.number[sl]
    for kind, arr in (("start", timing.mjd_start), ("mid", timing.mjd_mid), ("end", timing.mjd_end)):
        tab[f"int_{kind}_MJD_UTC"] = arr[sl]
        tab[f"int_{kind}_BJD_TDB"] = Timing.to_tdb(arr[sl])
    return tab


def _cal_steps(spec: ModeSpec, photom: bool) -> dict[str, str]:
    steps = dict.fromkeys(
        ["dq_init", "saturation", "refpix", "linearity", "dark_sub", "jump", "ramp_fit", "assign_wcs", "flat_field"],
        "COMPLETE",
    )
    steps.update(gain_scale="SKIPPED", ipc="SKIPPED", persistence="SKIPPED")
    steps["photom"] = "COMPLETE" if photom else "SKIPPED"
    if spec.instrument == "MIRI":
        steps.update(emicorr="COMPLETE", firstframe="COMPLETE", lastframe="COMPLETE", reset="COMPLETE")
        steps["rscd"] = "COMPLETE"
    else:
        steps.update(superbias="COMPLETE", group_scale="SKIPPED", clean_flicker_noise="SKIPPED")
    if not spec.imaging:
        steps["srctype"] = "COMPLETE"
    if spec.exp_type in ("NRS_BRIGHTOBJ", "NRC_TSGRISM"):
        steps["extract_2d"] = "COMPLETE"
    if spec.exp_type == "NRS_BRIGHTOBJ":
        steps.update(wavecorr="COMPLETE", pathloss="SKIPPED")
    if spec.exp_type == "MIR_LRS-SLITLESS":
        steps["targ_centroid"] = "SKIPPED"
    return steps


def populate_meta(
    model,
    spec: ModeSpec,
    *,
    detector: str,
    shape: tuple[int, int],
    substrt: tuple[int, int],
    timing: Timing,
    segment: int,
    nseg: int,
    first: int,
    last: int,
    bunit: str,
) -> None:
    """Fill ``model.meta`` (PRIMARY, SCI and ERR header keywords) for one calints segment."""
    m = model.meta
    ny, nx = shape
    photom = bunit != "DN/s"
    m.telescope = "JWST"
    m.origin = "STSCI"
    m.time_sys = "UTC"
    m.calibration_software_version = "3.0.0"
    m.calibration_software_revision = "RELEASE"
    m.program.pi_name = "Simulated, T. S."
    m.program.title = "tso3x synthetic time series"
    m.program.category = "GO"

    t0, t1 = float(timing.mjd_start[0]), float(timing.mjd_end[-1])
    tmid = 0.5 * (t0 + t1)
    isot = _mjd_isot(t0)
    o = m.observation
    o.date, o.time = isot.split("T")
    o.date_beg, o.date_end = isot, _mjd_isot(t1)
    o.program_number = PROGRAM
    o.observation_number = OBSERVATION
    o.visit_number = VISIT
    o.visit_group = VISIT_GROUP
    o.sequence_id = SEQUENCE
    o.activity_id = ACTIVITY
    o.exposure_number = EXPOSURE
    o.visit_id = f"{PROGRAM}{OBSERVATION}{VISIT}"
    o.obs_id = f"V{PROGRAM}{OBSERVATION}{VISIT}P0000000{VISIT_GROUP}{SEQUENCE}{ACTIVITY}"
    o.observation_label = "transit"
    m.visit.tsovisit = True
    m.visit.engineering_quality = "OK"
    m.visit.total_exposures = 1
    m.visit.internal_target = False
    m.visit.too_visit = False
    m.visit.crowded_field = False

    m.target.proposer_name = TARGET_NAME
    m.target.catalog_name = TARGET_NAME
    m.target.type = "FIXED"
    m.target.ra = TARGET_RA
    m.target.dec = TARGET_DEC
    m.target.source_type = "POINT"
    m.target.source_type_apt = "POINT"

    ins = m.instrument
    ins.name = spec.instrument
    ins.detector = detector
    ins.filter = spec.filter
    if spec.pupil:
        ins.pupil = spec.pupil
    if spec.grating:
        ins.grating = spec.grating
    for key, val in spec.extra.items():
        setattr(ins, key, val)

    e = m.exposure
    e.type = spec.exp_type
    e.count = 1
    e.readpatt = _READPATT[spec.instrument]
    e.nints = timing.nints
    e.integration_start = first
    e.integration_end = last
    e.segment_number = segment
    e.segment_total = nseg
    e.ngroups = timing.ngroups
    e.nframes = 1
    e.groupgap = 0
    e.nresets_at_start = 1
    e.nresets_between_ints = 1
    e.frame_time = timing.tframe
    e.group_time = timing.tgroup
    e.integration_time = timing.effinttm
    e.exposure_time = timing.effinttm * timing.nints
    e.effective_exposure_time = timing.effinttm * timing.nints
    e.duration = timing.cadence * timing.nints
    e.elapsed_exposure_time = (t1 - t0) * 86400.0
    e.start_time = e.start_time_mjd = t0
    e.mid_time = e.mid_time_mjd = tmid
    e.end_time = e.end_time_mjd = t1
    tdb = Timing.to_tdb(np.array([t0, tmid, t1]))
    e.start_time_tdb, e.mid_time_tdb, e.end_time_tdb = (float(v) for v in tdb)
    e.zero_frame = False
    e.sca_num = _SCA.get(detector, 0)
    m.time.barycentric_expstart, m.time.barycentric_expmid, m.time.barycentric_expend = (float(v) for v in tdb)

    s = m.subarray
    s.name = spec.subarray
    s.xstart, s.ystart = substrt
    s.xsize, s.ysize = nx, ny
    s.fastaxis, s.slowaxis = _AXES[spec.instrument]

    m.aperture.name = spec.aperture
    m.aperture.pps_name = spec.aperture
    m.bunit_data = bunit
    m.bunit_err = bunit
    if photom:
        m.photometry.pixelarea_steradians = spec.pixar_sr
        m.photometry.pixelarea_arcsecsq = spec.pixar_a2
    if photom and bunit == "MJy/sr":
        m.photometry.conversion_megajanskys = spec.photmjsr
        m.photometry.conversion_microjanskys = spec.photmjsr * 1e12 / 4.254517e10
    for key, val in _cal_steps(spec, photom).items():
        setattr(m.cal_step, key, val)
    m.ref_file.gain.name = f"crds://jwst_{spec.instrument.lower()}_gain_sim_{detector.lower()}.fits"


def _mjd_isot(mjd: float) -> str:
    return Time(mjd, format="mjd", scale="utc").isot


def write_model(model, path: str | os.PathLike) -> None:
    """Save ``model`` exactly as the pipeline does (``DataModel.save``).

    stdatamodels creates the HDUs in the order it first touches them: the SCI and ERR headers (BUNIT)
    while writing the metadata, then the arrays in schema order. That gives PRIMARY, SCI, ERR, DQ,
    INT_TIMES, VAR_POISSON, VAR_RNOISE, VAR_FLAT, ASDF for a CubeModel and PRIMARY, SCI, ERR, DQ,
    WAVELENGTH, VAR_POISSON, VAR_RNOISE, VAR_FLAT, INT_TIMES, ASDF for a SlitModel: the order of jwst's
    own calints/crfints of each model type.
    """
    model.save(os.fspath(path))
