"""Static description of each simulated TSO observing mode.

One :class:`ModeSpec` per mode holds everything that is fixed for the mode: instrument set-up keywords,
the subarray, timing, photometric constants, the datamodel class used for the calints, and the
wavelength range of spectroscopic modes. Values are realistic (SIAF/CRDS-like) but not authoritative.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: 1 arcsec² in steradians.
ARCSEC2_SR = 2.350443054e-11


@dataclass(frozen=True)
class ModeSpec:
    """Fixed properties of one simulated mode.

    Attributes
    ----------
    name : str
        Mode key (one of :data:`MODES`).
    instrument, exp_type, filter, pupil, grating, subarray : str or None
        Keyword values (INSTRUME, EXP_TYPE, FILTER, PUPIL, GRATING, SUBARRAY).
    detectors : tuple of str
        Allowed detectors; the first is the default.
    shape : tuple of int
        Default (ny, nx) of one integration (the subarray size).
    substrt : tuple of int
        Default 1-based (SUBSTRT1, SUBSTRT2) of the subarray on the full frame.
    full_frame : tuple of int
        Full-frame (ny, nx) of the detector (shape of the gain reference file).
    model : str
        ``"CubeModel"`` or ``"SlitModel"``.
    bunit : str
        Default BUNIT of the calints.
    tframe : float
        Frame time [s]; with ``ngroups`` it sets EFFINTTM and the cadence.
    ngroups : int
        Groups per integration.
    pixel_scale : float
        Pixel scale [arcsec/pixel].
    photmjsr : float
        MJy/sr per DN/s (PHOTMJSR); for ``bunit='MJy'`` the point-source MJy per DN/s.
    gain : float
        Mean gain [electron/DN].
    read_noise : float
        Read noise of one CDS pair [DN].
    dispaxis : int or None
        1 (along x) or 2 (along y) for spectra, None for imaging.
    wave_range : dict or None
        Detector → (wavelength at the first, at the last dispersion pixel) [micron] of spectra.
    with_wavelength : bool
        Whether the calints carry a WAVELENGTH array.
    aperture : str
        APERNAME.
    slit_name : str or None
        SLTNAME of SlitModel calints (None if unset by the pipeline).
    extra : dict
        Other instrument keywords (meta.instrument.*), e.g. module/channel.
    nints : int
        Default number of integrations of a simulated exposure.
    """

    name: str
    instrument: str
    exp_type: str
    filter: str
    pupil: str | None
    grating: str | None
    subarray: str
    detectors: tuple[str, ...]
    shape: tuple[int, int]
    substrt: tuple[int, int]
    full_frame: tuple[int, int]
    model: str
    bunit: str
    tframe: float
    ngroups: int
    pixel_scale: float
    photmjsr: float
    gain: float
    read_noise: float
    dispaxis: int | None = None
    wave_range: dict[str, tuple[float, float]] | None = None
    with_wavelength: bool = False
    aperture: str = ""
    slit_name: str | None = None
    extra: dict = field(default_factory=dict)
    nints: int = 60

    @property
    def imaging(self) -> bool:
        """True for the imaging modes (processed by tso_photometry)."""
        return self.dispaxis is None and self.exp_type != "NIS_SOSS"

    @property
    def pixar_a2(self) -> float:
        """Nominal pixel area [arcsec²] (PIXAR_A2)."""
        return self.pixel_scale**2

    @property
    def pixar_sr(self) -> float:
        """Nominal pixel area [sr] (PIXAR_SR)."""
        return self.pixel_scale**2 * ARCSEC2_SR


#: NIS_SOSS subarrays: name → (shape, 1-based (SUBSTRT1, SUBSTRT2), APERNAME, TFRAME [s]).
SOSS_SUBARRAYS: dict[str, tuple[tuple[int, int], tuple[int, int], str, float]] = {
    "SUBSTRIP96": ((96, 2048), (1, 1803), "NIS_SUBSTRIP96", 2.213),
    "SUBSTRIP256": ((256, 2048), (1, 1793), "NIS_SUBSTRIP256", 5.491),
    "FULL": ((2048, 2048), (1, 1), "NIS_SOSSFULL", 10.737),
}
#: NIS_SOSS filters (CLEAR is the science one; jwst 3.0.0 does not extract F277W).
SOSS_FILTERS = ("CLEAR", "F277W")
#: Pupil-wheel position [deg] (PWCPOS) of simulated SOSS exposures, 0.03° off the commanded 245.76.
SOSS_PWCPOS = 245.79

_NIRCAM_SW = {"module": "A", "channel": "SHORT"}
_NIRCAM_LW = {"module": "A", "channel": "LONG"}
_NIRCAM_FULL = (2048, 2048)
_MIRI_FULL = (1024, 1032)

# fmt: off
SPECS: dict[str, ModeSpec] = {
    s.name: s
    for s in (
        ModeSpec(
            name="nrc_tsimage_wlp8", instrument="NIRCAM", exp_type="NRC_TSIMAGE", filter="F210M",
            pupil="WLP8", grating=None, subarray="SUB64P", detectors=("NRCA3",), shape=(64, 64),
            substrt=(1, 1985), full_frame=_NIRCAM_FULL, model="CubeModel", bunit="MJy/sr",
            tframe=0.01496, ngroups=60, pixel_scale=0.031, photmjsr=0.55, gain=2.05, read_noise=11.0,
            aperture="NRCA3_SUB64P", extra=_NIRCAM_SW,
        ),
        ModeSpec(
            name="nrc_tsimage_clear", instrument="NIRCAM", exp_type="NRC_TSIMAGE", filter="F444W",
            pupil="CLEAR", grating=None, subarray="SUB160P", detectors=("NRCALONG",), shape=(160, 160),
            substrt=(1, 1889), full_frame=_NIRCAM_FULL, model="CubeModel", bunit="MJy/sr",
            tframe=0.27864, ngroups=6, pixel_scale=0.063, photmjsr=0.22, gain=1.82, read_noise=9.0,
            aperture="NRCA5_SUB160P", extra=_NIRCAM_LW,
        ),
        ModeSpec(
            name="mir_image", instrument="MIRI", exp_type="MIR_IMAGE", filter="F1500W", pupil=None,
            grating=None, subarray="SUB64", detectors=("MIRIMAGE",), shape=(64, 72), substrt=(1, 779),
            full_frame=_MIRI_FULL, model="CubeModel", bunit="MJy/sr", tframe=0.08552, ngroups=40,
            pixel_scale=0.11, photmjsr=0.45, gain=4.0, read_noise=14.0, aperture="MIRIM_SUB64",
        ),
        ModeSpec(
            name="nrs_brightobj", instrument="NIRSPEC", exp_type="NRS_BRIGHTOBJ", filter="F290LP",
            pupil=None, grating="G395H", subarray="SUB2048", detectors=("NRS1", "NRS2"), shape=(32, 2048),
            substrt=(1, 1), full_frame=_NIRCAM_FULL, model="SlitModel", bunit="MJy", tframe=0.90156,
            ngroups=10, pixel_scale=0.1, photmjsr=2.5e-11, gain=1.05, read_noise=14.0, dispaxis=1,
            wave_range={"NRS1": (2.87, 3.72), "NRS2": (3.82, 5.18)}, with_wavelength=True,
            aperture="NRS_S1600A1_SLIT", slit_name="S1600A1", extra={"fixed_slit": "S1600A1"},
        ),
        ModeSpec(
            name="nrc_tsgrism", instrument="NIRCAM", exp_type="NRC_TSGRISM", filter="F444W",
            pupil="GRISMR", grating=None, subarray="SUBGRISM64", detectors=("NRCALONG",), shape=(64, 2048),
            substrt=(1, 1), full_frame=_NIRCAM_FULL, model="SlitModel", bunit="MJy/sr", tframe=0.34061,
            ngroups=12, pixel_scale=0.063, photmjsr=0.35, gain=1.82, read_noise=9.0, dispaxis=1,
            wave_range={"NRCALONG": (3.35, 5.35)}, with_wavelength=True, aperture="NRCA5_GRISM64_F444W",
            slit_name="1", extra=_NIRCAM_LW,
        ),
        ModeSpec(
            name="mir_lrs", instrument="MIRI", exp_type="MIR_LRS-SLITLESS", filter="P750L", pupil=None,
            grating=None, subarray="SLITLESSPRISM", detectors=("MIRIMAGE",), shape=(416, 72),
            substrt=(1, 529), full_frame=_MIRI_FULL, model="SlitModel", bunit="MJy/sr", tframe=0.15904,
            ngroups=30, pixel_scale=0.11, photmjsr=0.6, gain=4.0, read_noise=14.0, dispaxis=2,
            wave_range={"MIRIMAGE": (14.0, 4.5)}, with_wavelength=True, aperture="MIRIM_SLITLESSPRISM",
        ),
        ModeSpec(
            name="mir_lrs_cube", instrument="MIRI", exp_type="MIR_LRS-SLITLESS", filter="P750L", pupil=None,
            grating=None, subarray="SLITLESSPRISM", detectors=("MIRIMAGE",), shape=(416, 72),
            substrt=(1, 529), full_frame=_MIRI_FULL, model="CubeModel", bunit="MJy/sr", tframe=0.15904,
            ngroups=30, pixel_scale=0.11, photmjsr=0.6, gain=4.0, read_noise=14.0, dispaxis=2,
            wave_range={"MIRIMAGE": (14.0, 4.5)}, with_wavelength=False, aperture="MIRIM_SLITLESSPRISM",
        ),
        ModeSpec(
            name="nis_soss", instrument="NIRISS", exp_type="NIS_SOSS", filter="CLEAR", pupil="GR700XD",
            grating=None, subarray="SUBSTRIP96", detectors=("NIS",), shape=(96, 2048), substrt=(1, 1803),
            full_frame=_NIRCAM_FULL, model="CubeModel", bunit="DN/s", tframe=2.213, ngroups=6,
            pixel_scale=0.0656, photmjsr=1.0, gain=1.61, read_noise=11.0, dispaxis=1,
            wave_range={"NIS": (2.83, 0.85)}, aperture="NIS_SUBSTRIP96",
            extra={"pupil_position": SOSS_PWCPOS, "filter_position": 0.0}, nints=20,
        ),
    )
}
# fmt: on

#: All supported modes, in a fixed order.
MODES: tuple[str, ...] = (
    "nrc_tsimage_wlp8",
    "nrc_tsimage_clear",
    "mir_image",
    "nrs_brightobj",
    "nrc_tsgrism",
    "mir_lrs",
    "mir_lrs_cube",
    "nis_soss",
)

#: Accepted BUNIT values.
BUNITS = ("MJy/sr", "MJy", "DN/s")


def soss_variant(spec: ModeSpec, subarray: str, filt: str) -> ModeSpec:
    """The ``nis_soss`` spec on another subarray (shape, corner, aperture, frame time) and filter."""
    shape, substrt, aperture, tframe = SOSS_SUBARRAYS[subarray]
    return replace(spec, subarray=subarray, shape=shape, substrt=substrt, aperture=aperture, tframe=tframe, filter=filt)


def opt_elem(spec: ModeSpec) -> str:
    """DMS product-name optical-element string (``jwst.associations`` ``get_opt_element`` rule).

    The filter and pupil/grating values are sorted case-insensitively and joined with ``-``.
    """
    elems = [v for v in (spec.filter, spec.pupil or spec.grating) if v and v.upper() != "N/A"]
    elems.sort(key=str.lower)
    return "-".join(elems).lower() or "clear"
